/** What the buffer stores: the reading types, lanes and the on-disk cost of a row. No I/O. */

/**
 * `cls` is the reading's priority (0 = bulk, higher is sent first); `kind` is KIND_RAW, KIND_ROLLUP, or
 * KIND_LOCAL (stored in `kept` only, never forwarded: raw readings of rollup-only topics, kept `keepMs`).
 * `meta` travels to the commit hook untouched (the aggregator's parsed payload). `props` is the reading's
 * MQTT 5 metadata as codec/metadata.ts packs it, stored as is (opaque here); null or absent when none.
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
  props?: Buffer | null
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
  props?: Buffer | null
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

/** Bytes a reading costs on disk beyond its payload, topic and metadata: row header, key, index. */
export const ROW_OVERHEAD_BYTES = 40
/** What quotas and the disk budget count for a row; SQL scans count the same (PROPS_BYTES_SQL). */
export const rowBytes = (topic: string, payload: Buffer, props?: Buffer | null): number =>
  payload.length + topic.length + (props?.length ?? 0) + ROW_OVERHEAD_BYTES
/** The metadata column's bytes in SQL (NULL = none = 0), for the scans that must agree with rowBytes. */
export const PROPS_BYTES_SQL = 'ifnull(length(props), 0)'
