/** What the batch decoders return, shared by every format version. */
import type { ReadingMetadata } from './metadata.js'

export type { ReadingMetadata }

export type ReadingKind = 'raw' | 'rollup'
export type Lane = 'backlog' | 'live'

export interface DecodedReading {
  eventId: string
  gatewayId: string
  seq: number
  device: string
  topic: string
  payload: Buffer
  recvMs: number
  eventMs: number | null
  qos: number
  /** A device's reading, or a rollup record made by the gateway. */
  kind: ReadingKind
  /** The forwarding lane that carried it (README "Forwarding to Kafka"). */
  lane: Lane
  /** The priority class name ('' when a version 1 batch came without its hf-class header). */
  cls: string
  /** MQTT 5 User Properties and Content Type (version 3 batches); absent when the reading has none. */
  metadata?: ReadingMetadata
}

/** Batch-level facts every reading of a batch shares. */
export interface BatchMeta {
  kind: ReadingKind
  lane: Lane
  cls: string
}

export interface BatchMessage {
  key: string
  value: Buffer
  headers: Record<string, string>
}

/** `${gatewayId}:${seq}`. Gateway ids never contain ':', so the last ':' splits it back. */
export function eventIdOf(gatewayId: string, seq: number): string {
  return `${gatewayId}:${seq}`
}
