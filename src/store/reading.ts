/** What the buffer stores: the reading types, lanes and the on-disk cost of a row. No I/O. */

/**
 * `cls` is the reading's priority (0 = bulk, higher is sent first); `kind` is KIND_RAW, KIND_ROLLUP, or
 * KIND_LOCAL (stored in `kept` only, never forwarded: raw readings of rollup-only topics, kept `keepMs`).
 * `meta` travels to the commit hook untouched (the aggregator's parsed payload).
 */
export interface NewReading {
  device: string
  topic: string
  payload: Buffer
  eventMs: number | null
  qos: number
  cls?: number
  kind?: number
  keepMs?: number
  meta?: unknown
}
export interface StoredReading {
  seq: number
  device: string
  topic: string
  payload: Buffer
  recvMs: number
  eventMs: number | null
  qos: number
  cls?: number
  kind?: number
}
export const KIND_RAW = 0
export const KIND_ROLLUP = 1
export const KIND_LOCAL = 2

/** A forwarding lane: the readings of one priority and kind, read and released in seq order. */
export interface Lane {
  cls: number
  kind: number
  readings: number
}
export const laneKey = (cls: number, kind: number): number => cls * 4 + kind

export interface Usage {
  readings: number
  bytes: number
}

/** Bytes a reading costs on disk beyond its payload and topic: row header, key, index. */
export const ROW_OVERHEAD_BYTES = 40
export const rowBytes = (topic: string, payload: Buffer): number => payload.length + topic.length + ROW_OVERHEAD_BYTES
