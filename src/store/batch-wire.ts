/**
 * A group of new readings as one transferable buffer, from the broker thread to the commit worker
 * (commit-worker.ts): one allocation and one postMessage per group, not an object per reading.
 * Layout (little-endian): count u32, firstSeq f64, recvMs f64, then per reading
 * device id u32, cls i32, kind u8, qos u8, eventMs f64 (NaN = none), topic u32 + UTF-8, payload u32 + bytes,
 * props (MQTT 5 metadata) u32 + bytes (0xFFFFFFFF = none).
 */
import { KIND_RAW, type NewReading } from './reading.js'

const HEAD = 20
const PER_READING = 30
const NO_PROPS = 0xffffffff

export interface GroupHeader {
  count: number
  firstSeq: number
  recvMs: number
}

/** `ids[i]`: the stored id of `batch[i].device`. Returns a buffer that owns its ArrayBuffer (safe to transfer). */
export function packGroup(
  batch: readonly NewReading[],
  ids: readonly number[],
  firstSeq: number,
  recvMs: number
): Buffer {
  let bound = HEAD
  // A UTF-16 code unit is at most 3 bytes of UTF-8.
  for (const r of batch) bound += PER_READING + r.topic.length * 3 + r.payload.length + (r.props?.length ?? 0)
  // Not from the shared pool: the whole ArrayBuffer is transferred.
  const b = Buffer.allocUnsafeSlow(bound)
  b.writeUInt32LE(batch.length, 0)
  b.writeDoubleLE(firstSeq, 4)
  b.writeDoubleLE(recvMs, 12)
  let o = HEAD
  for (let i = 0; i < batch.length; i++) {
    const r = batch[i]!
    b.writeUInt32LE(ids[i]!, o)
    b.writeInt32LE(r.cls ?? 0, o + 4)
    b.writeUInt8(r.kind ?? KIND_RAW, o + 8)
    b.writeUInt8(r.qos, o + 9)
    b.writeDoubleLE(r.eventMs ?? Number.NaN, o + 10)
    const t = b.write(r.topic, o + 22, 'utf8')
    b.writeUInt32LE(t, o + 18)
    o += 22 + t
    b.writeUInt32LE(r.payload.length, o)
    r.payload.copy(b, o + 4)
    o += 4 + r.payload.length
    const props = r.props ?? null
    b.writeUInt32LE(props === null ? NO_PROPS : props.length, o)
    if (props !== null) props.copy(b, o + 4)
    o += 4 + (props?.length ?? 0)
  }
  return b.subarray(0, o)
}

export function groupHeader(b: Buffer): GroupHeader {
  return { count: b.readUInt32LE(0), firstSeq: b.readDoubleLE(4), recvMs: b.readDoubleLE(12) }
}

/** Offset of the first reading in a group. */
export const GROUP_HEAD = HEAD
/** Values per reading that readRowInto writes: the readings table's columns (rows.ts COLS), in that order. */
export const ROW_VALUES = 10

/**
 * The reading at offset `o` of a group, as the insert's bound values in COLS order (seq, device, topic,
 * payload, recv_ms, event_ms, qos, cls, kind, props), written to out[at..at+9]: no object per reading,
 * and payload and props stay views into the group. Returns the next reading's offset.
 */
export function readRowInto(b: Buffer, o: number, seq: number, recvMs: number, out: unknown[], at: number): number {
  const e = b.readDoubleLE(o + 10)
  const t = b.readUInt32LE(o + 18)
  out[at] = seq
  out[at + 1] = b.readUInt32LE(o)
  out[at + 2] = b.toString('utf8', o + 22, o + 22 + t)
  out[at + 4] = recvMs
  out[at + 5] = Number.isNaN(e) ? null : e
  out[at + 6] = b[o + 9]
  out[at + 7] = b.readInt32LE(o + 4)
  out[at + 8] = b[o + 8]
  o += 22 + t
  const p = b.readUInt32LE(o)
  out[at + 3] = b.subarray(o + 4, o + 4 + p)
  o += 4 + p
  const m = b.readUInt32LE(o)
  if (m === NO_PROPS) {
    out[at + 9] = null
    return o + 4
  }
  out[at + 9] = b.subarray(o + 4, o + 4 + m)
  return o + 4 + m
}
