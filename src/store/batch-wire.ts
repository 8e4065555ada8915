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

/** A reading as the worker inserts it (payload and props are views into the received buffer). */
export interface WireReading {
  device: number
  cls: number
  kind: number
  qos: number
  eventMs: number | null
  topic: string
  payload: Buffer
  props: Buffer | null
}

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

/** Each reading in order, one short-lived object at a time: a large group never piles up on the worker's small heap. */
export function forEachInGroup(b: Buffer, fn: (r: WireReading) => void): void {
  const n = b.readUInt32LE(0)
  let o = HEAD
  for (let i = 0; i < n; i++) {
    const e = b.readDoubleLE(o + 10)
    const t = b.readUInt32LE(o + 18)
    const topic = b.toString('utf8', o + 22, o + 22 + t)
    const device = b.readUInt32LE(o)
    const cls = b.readInt32LE(o + 4)
    const kind = b.readUInt8(o + 8)
    const qos = b.readUInt8(o + 9)
    o += 22 + t
    const p = b.readUInt32LE(o)
    const payload = b.subarray(o + 4, o + 4 + p)
    o += 4 + p
    const m = b.readUInt32LE(o)
    const props = m === NO_PROPS ? null : b.subarray(o + 4, o + 4 + m)
    o += 4 + (props?.length ?? 0)
    fn({ device, cls, kind, qos, eventMs: Number.isNaN(e) ? null : e, topic, payload, props })
  }
}
