/**
 * Version 1 of the batch format (one device per message), decode only: the gateway writes version 2
 * (batch.ts), and version 1 values already in Kafka still decode. README "Batch format" keeps both.
 */
import { Decoder } from 'cbor-x'
import { array, bigSum, fail, int, safe, text } from './check.js'
import { decodeShape, PayloadCursor } from './shapes.js'
import { type BatchMeta, type DecodedReading, eventIdOf } from './types.js'

// Body positions.
const B_GATEWAY = 0
const B_DEVICE = 1
const B_SEQ = 2
const B_RECV = 3
const B_EVENT = 4
const B_TOPICS = 5
const B_TOPIC_IDX = 6
const B_QOS = 7
const B_KIND = 8
const B_RAW = 9
const B_SHAPES = 10
const BODY_LENGTH = 11

const decoder = new Decoder({ useRecords: false, mapsAsObjects: true })

/** The uncompressed CBOR body → readings (exported for the benchmark). */
export function decodeBodyV1(body: Buffer, meta: BatchMeta): DecodedReading[] {
  let b: unknown
  try {
    b = decoder.decode(body)
  } catch (err) {
    return fail(`CBOR: ${(err as Error).message}`, {}, err)
  }
  if (!Array.isArray(b) || b.length !== BODY_LENGTH) return fail(`body is not an array of ${BODY_LENGTH}`)
  const gatewayId = text(b[B_GATEWAY], 'gateway id')
  const device = text(b[B_DEVICE], 'device')
  const seqD = array(b[B_SEQ], 'seq')
  const n = seqD.length
  if (n === 0) fail('empty batch')
  const recvD = array(b[B_RECV], 'recvMs', n)
  const event = array(b[B_EVENT], 'eventMs', n)
  const topics = array(b[B_TOPICS], 'topics').map(t => text(t, 'topic'))
  const topicIdx = array(b[B_TOPIC_IDX], 'topic index', n)
  const qos = array(b[B_QOS], 'qos', n)
  const kind = array(b[B_KIND], 'payload kind', n)
  const raw = array(b[B_RAW], 'raw payloads')
  const shapes = array(b[B_SHAPES], 'shapes').map((sh, s) => decodeShape(sh, s, 1))

  const out: DecodedReading[] = new Array(n)
  const payloads = new PayloadCursor(raw, shapes)
  let seq = 0
  let recvMs = 0
  for (let i = 0; i < n; i++) {
    seq = safe(seq + int(seqD[i], 'seq'), 'seq')
    if (i > 0 && seq <= out[i - 1]!.seq) fail('seq not ascending', { index: i })
    recvMs = safe(recvMs + int(recvD[i], 'recvMs'), 'recvMs')
    const ev = event[i]
    const eventMs =
      ev === null ? null : typeof ev === 'bigint' ? bigSum(recvMs, ev) : safe(recvMs + int(ev, 'eventMs'), 'eventMs')
    const t = int(topicIdx[i], 'topic index')
    if (t < 0 || t >= topics.length) fail(`topic index ${t} out of range`)
    const q = int(qos[i], 'qos')
    if (q < 0 || q > 2) fail(`qos ${q}`)
    const k = int(kind[i], 'payload kind')
    const payload = payloads.next(k)
    out[i] = {
      eventId: eventIdOf(gatewayId, seq),
      gatewayId,
      seq,
      device,
      topic: topics[t]!,
      payload,
      recvMs,
      eventMs,
      qos: q,
      kind: meta.kind,
      lane: meta.lane,
      cls: meta.cls
    }
  }
  payloads.finish()
  return out
}
