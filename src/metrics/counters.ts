/**
 * Counters of what happened to readings, gateway-wide and per device. Every reading that
 * is not delivered is counted here with a reason; the status API and /metrics read it.
 */
export const DROP_REASONS = [
  'payload_too_large',
  'acl_denied',
  'invalid_topic',
  'store_error',
  'quota_storage',
  'quota_drop_oldest',
  'disk_budget',
  'disk_drop_oldest',
  'retained_limit'
] as const
export type DropReason = (typeof DROP_REASONS)[number]

/** Connections, logins and subscriptions refused (not readings): each bad input has a counted outcome. */
export const REFUSAL_REASONS = [
  'anonymous',
  'bad_credentials',
  'unknown_identity',
  'cert_mismatch',
  'auth_rate_limited',
  'auth_busy',
  'session_limit',
  'client_id_taken',
  'client_id_invalid',
  'conn_limit',
  'conn_rate',
  'connect_timeout',
  'protocol_error',
  'packet_too_large',
  'tls_error',
  'tls_handshake_limit',
  'acl_subscribe',
  'subscription_limit',
  'invalid_topic'
] as const
export type RefusalReason = (typeof REFUSAL_REASONS)[number]

export class DeviceStats {
  readonly id: string
  connections = 0
  lastSeenMs = 0
  received = 0
  stored = 0
  forwarded = 0
  /** Re-sent readings recognised and acknowledged without a second copy. */
  duplicates = 0
  authFailures = 0
  denials = 0
  readonly dropped: Partial<Record<DropReason, number>> = {}

  constructor(id: string) {
    this.id = id
  }
}

export class Counters {
  received = 0
  stored = 0
  forwarded = 0
  duplicates = 0
  authFailures = 0
  /** Rollup records made by closing windows (README "Aggregation, priorities and uplink budgets"). */
  rollups = 0
  /** Readings that arrived after their window had closed: they went into a late rollup. */
  lateReadings = 0
  /** Raw readings compacted into rollups under disk pressure (replaced, not dropped). */
  compacted = 0
  /** Rollup records Kafka acknowledged (not in `forwarded`, which counts devices' readings). */
  forwardedRollups = 0
  readonly dropped: Record<DropReason, number> = Object.fromEntries(DROP_REASONS.map(r => [r, 0])) as Record<
    DropReason,
    number
  >
  readonly refused: Record<RefusalReason, number> = Object.fromEntries(REFUSAL_REASONS.map(r => [r, 0])) as Record<
    RefusalReason,
    number
  >
  readonly devices = new Map<string, DeviceStats>()

  device(id: string): DeviceStats {
    let d = this.devices.get(id)
    if (d === undefined) this.devices.set(id, (d = new DeviceStats(id)))
    return d
  }

  refuse(reason: RefusalReason, n = 1): void {
    this.refused[reason] += n
  }

  drop(device: string | null, reason: DropReason, n = 1): void {
    this.dropped[reason] += n
    if (device !== null) {
      const d = this.device(device)
      d.dropped[reason] = (d.dropped[reason] ?? 0) + n
    }
  }
}
