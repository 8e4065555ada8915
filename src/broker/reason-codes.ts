/**
 * MQTT 5 reason codes for what Holdfast refuses. The hooks attach one to the error they pass to aedes
 * (`reasonCode`, and `disconnect` for refusals that end the connection); the patched aedes
 * (patches/aedes+2.0.0-beta.1.patch) answers an MQTT 5 client with it, the error message as Reason
 * String. 3.1.1 connections ignore both and keep their CONNACK return codes and closes.
 */
import type { DropReason, RefusalReason } from '../metrics/counters.js'

export const Reason = {
  UNSPECIFIED_ERROR: 0x80,
  CLIENT_ID_NOT_VALID: 0x85,
  BAD_USERNAME_OR_PASSWORD: 0x86,
  NOT_AUTHORIZED: 0x87,
  SERVER_BUSY: 0x89,
  ADMINISTRATIVE_ACTION: 0x98,
  TOPIC_NAME_INVALID: 0x90,
  RECEIVE_MAXIMUM_EXCEEDED: 0x93,
  PACKET_TOO_LARGE: 0x95,
  QUOTA_EXCEEDED: 0x97,
  CONNECTION_RATE_EXCEEDED: 0x9f
} as const

/** CONNACK reason code of each login refusal. */
export const CONNACK_REASON: Partial<Record<RefusalReason, number>> = {
  anonymous: Reason.NOT_AUTHORIZED,
  bad_credentials: Reason.BAD_USERNAME_OR_PASSWORD,
  unknown_identity: Reason.BAD_USERNAME_OR_PASSWORD,
  cert_mismatch: Reason.NOT_AUTHORIZED,
  auth_rate_limited: Reason.CONNECTION_RATE_EXCEEDED,
  auth_busy: Reason.SERVER_BUSY,
  session_limit: Reason.QUOTA_EXCEEDED,
  client_id_taken: Reason.CLIENT_ID_NOT_VALID,
  conn_limit: Reason.SERVER_BUSY,
  conn_rate: Reason.CONNECTION_RATE_EXCEEDED
}

/** PUBACK/PUBREC reason code of each refused publish; `disconnect` ones end the connection instead. */
export const PUBLISH_REASON: Record<DropReason, { code: number; disconnect?: true }> = {
  acl_denied: { code: Reason.NOT_AUTHORIZED },
  invalid_topic: { code: Reason.TOPIC_NAME_INVALID },
  retained_limit: { code: Reason.QUOTA_EXCEEDED },
  will_rate_limited: { code: Reason.QUOTA_EXCEEDED },
  quota_storage: { code: Reason.QUOTA_EXCEEDED },
  disk_budget: { code: Reason.QUOTA_EXCEEDED },
  store_error: { code: Reason.UNSPECIFIED_ERROR },
  payload_too_large: { code: Reason.PACKET_TOO_LARGE, disconnect: true },
  // Never refusals of a publish (old readings deleted to make room), listed for completeness.
  quota_drop_oldest: { code: Reason.QUOTA_EXCEEDED },
  disk_drop_oldest: { code: Reason.QUOTA_EXCEEDED }
}

/** Fields the patched aedes reads from a hook's error. */
export interface ReasonFields {
  reasonCode?: number
  disconnect?: boolean
}

export function withReason<E extends Error>(err: E, code: number, disconnect = false): E & ReasonFields {
  return Object.assign(err, disconnect ? { reasonCode: code, disconnect } : { reasonCode: code })
}
