/**
 * The uplink batch format, versions 2 and 3: one Kafka message holds a batch of one gateway's readings
 * (of one or several devices, one lane), or a control record. Pure functions, no I/O. README.md "Batch
 * format" is the specification a consumer writes against; change the two together (and FORMAT_VERSION
 * when old decoders would misread). Version 1 values (one device per message) still decode (batch-v1.ts).
 *
 * value = "HF" | version byte | codec byte | body   (codec 0: body as is, the default, compressed by
 *         Kafka-level GZIP; codec 1: body zlib-compressed (RFC 1950), optional for other transports)
 * body  = CBOR array: gateway, type (readings / rollups / control), lane, class, a device and a topic
 *         dictionary, then columns: topic index, seq, receive time, event time, qos, and payloads either
 *         raw (byte strings) or, for flat JSON objects, transposed into per-key columns ("shapes") whose
 *         numbers are scaled integers written back by a plain decimal rule. Both restore the exact bytes.
 *         Version 3 is version 2 with one more item, the readings' MQTT 5 metadata; it is written only
 *         for a batch that carries some, so batches without metadata stay version 2, byte for byte.
 */
import { deflateSync, inflateSync } from 'node:zlib'
import { Encoder, Decoder } from 'cbor-x'
import type { StoredReading } from '../store/reading.js'
import { array, bigSum, cborInt, fail, type Int, int, safe, text } from './check.js'
import { decodeShape, encodeColumnV2, flatJson, PayloadCursor, type Shape } from './shapes.js'
import { decodeBodyV1 } from './batch-v1.js'
import { type ControlRecord, controlFromCbor, type LedgerRecord, ledgerToCbor } from './control.js'
import { metadataItems, metadataOf } from './metadata.js'
import {
  type BatchMessage,
  type BatchMeta,
  type DecodedReading,
  eventIdOf,
  type Lane,
  type ReadingKind
} from './types.js'

export { eventIdOf }
export type { BatchMessage, DecodedReading, Lane, ReadingKind }

/** The version of batches without MQTT 5 metadata (and of control records). */
export const FORMAT_VERSION = 2
/** The version of batches that carry MQTT 5 metadata (body item 14). */
export const FORMAT_VERSION_METADATA = 3
/** Versions this decoder reads. */
export const FORMAT_VERSIONS = [1, 2, 3] as const
export const CONTENT_TYPE = 'application/vnd.holdfast.batch'
/**
 * Compression the producer must set at Kafka level. Values are not compressed by default: Kafka's
 * GZIP over the record batch compresses key, headers and value together and across the messages
 * of one produce request, which beats compressing each value alone at every batch size measured
 * (README "Batch format"), and kafkajs runs it on the libuv thread pool, off the event loop.
 */
export const KAFKA_COMPRESSION: 'none' | 'gzip' = 'gzip'

export const CODEC_NONE = 0
export const CODEC_ZLIB = 1
export const CODEC_NAMES = ['none', 'zlib'] as const
/** zlib level when compressing inside the value: 6 (the default) gives ~8% fewer bytes than 1. */
export const ZLIB_LEVEL = 6
/** Decompression limit: a corrupt or hostile value must not exhaust memory. */
export const MAX_BODY_BYTES = 128 * 1024 * 1024
const MAGIC0 = 0x48 // 'H'
const MAGIC1 = 0x46 // 'F'
const HEADER_BYTES = 4

/** Version 2 headers: the only two on a message; the body says everything else. */
export const HEADERS = {
  format: 'hf-format',
  kind: 'hf-kind'
} as const
/** Version 1 headers, checked against the body when a version 1 value comes with them. */
export const HEADERS_V1 = {
  contentType: 'hf-content-type',
  format: 'hf-format',
  gateway: 'hf-gateway',
  device: 'hf-device',
  count: 'hf-count',
  firstSeq: 'hf-first-seq',
  lastSeq: 'hf-last-seq',
  compression: 'hf-compression',
  lane: 'hf-lane',
  kind: 'hf-kind',
  cls: 'hf-class'
} as const

/** Body item 1: what the message holds. */
export const TYPE_READINGS = 0
export const TYPE_ROLLUPS = 1
export const TYPE_CONTROL = 2
const TYPE_NAMES = ['raw', 'rollup', 'control'] as const
const LANES: readonly Lane[] = ['backlog', 'live']

// Body positions (README documents the same table).
const B_GATEWAY = 0
const B_TYPE = 1
const B_LANE = 2
const B_CLASS = 3
const B_DEVICES = 4
const B_TOPICS = 5
const B_TOPIC_IDX = 6
const B_SEQ = 7
const B_RECV = 8
const B_EVENT = 9
const B_QOS = 10
const B_KIND = 11
const B_RAW = 12
const B_SHAPES = 13
const B_METADATA = 14
const BODY_LENGTH = 14
const BODY_LENGTH_V3 = 15
const CONTROL_LENGTH = 3
const TOPIC_PREFIX = 'devices/'

const encoder = new Encoder({ useRecords: false, tagUint8Array: false, pack: false })
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true })

// ---------------------------------------------------------------------------------------------
// encode

export interface EncodeOptions {
  /** Device readings (default) or rollup records. */
  kind?: ReadingKind
  /** The forwarding lane (default backlog). */
  lane?: Lane
  /** Priority class name (default ''). */
  cls?: string
  /** Kafka message key (default: the gateway id). */
  key?: string
  /** Transpose eligible JSON payloads into columns (default true); false keeps every payload raw. */
  transcode?: boolean
  /**
   * zlib inside the value (codec 1) when that makes it smaller. Default false: the producer's
   * Kafka-level GZIP does better. For transports without compression (files, other queues).
   */
  compress?: boolean
}

/**
 * One Kafka message for `readings` of one gateway: each device's readings in ascending seq order
 * (as the buffer returns them), devices in any interleaving. Deterministic: the same input gives the
 * same bytes. The body holds the readings grouped by device, in order of each device's first reading.
 */
export function encodeBatch(
  gatewayId: string,
  readings: readonly StoredReading[],
  options: EncodeOptions = {}
): BatchMessage {
  const kind = options.kind ?? 'raw'
  const body = encodeBody(gatewayId, readings, options)
  const version = batchVersionOf(readings)
  return {
    key: options.key ?? gatewayId,
    value: frame(body, options.compress ?? false, version),
    headers: { [HEADERS.format]: String(version), [HEADERS.kind]: kind }
  }
}

/** Version 3 when a reading carries MQTT 5 metadata, else 2: old consumers keep reading metadata-free batches. */
export function batchVersionOf(readings: readonly StoredReading[]): number {
  for (const r of readings) if (r.props != null) return FORMAT_VERSION_METADATA
  return FORMAT_VERSION
}

function storedMetadata(blob: Buffer): [string | null, string[]] | null {
  try {
    return metadataItems(blob)
  } catch {
    return null
  }
}

/** A control record as its own message, keyed by the gateway like its batches. */
export function encodeControl(record: LedgerRecord, options: { compress?: boolean } = {}): BatchMessage {
  const body = Buffer.from(encoder.encode([record.gatewayId, TYPE_CONTROL, ledgerToCbor(record)]))
  return {
    key: record.gatewayId,
    value: frame(body, options.compress ?? false),
    headers: { [HEADERS.format]: String(FORMAT_VERSION), [HEADERS.kind]: 'control' }
  }
}

/** Envelope: magic, version, codec, then the (maybe compressed) body. */
export function frame(body: Buffer, compress = false, version = FORMAT_VERSION): Buffer {
  if (compress) {
    const z = deflateSync(body, { level: ZLIB_LEVEL })
    if (z.length < body.length) return withHeader(CODEC_ZLIB, z, version)
  }
  return withHeader(CODEC_NONE, body, version)
}

function withHeader(codec: number, data: Buffer, version: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + data.length)
  out[0] = MAGIC0
  out[1] = MAGIC1
  out[2] = version
  out[3] = codec
  data.copy(out, HEADER_BYTES)
  return out
}

/** The uncompressed CBOR body of a readings batch (exported for the benchmark and tests). */
export function encodeBody(gatewayId: string, readings: readonly StoredReading[], options: EncodeOptions = {}): Buffer {
  if (readings.length === 0) throw new RangeError('encodeBatch: a batch holds at least one reading')
  const [rows, devices] = groupedByDevice(readings)
  // A shape whose numbers cannot all be scaled integers is refused, and its payloads stay raw.
  const refused = new Set<string>()
  for (;;) {
    const body = tryBody(gatewayId, rows, devices, options, refused)
    if (Buffer.isBuffer(body)) return body
    refused.add(body)
  }
}

/**
 * The readings grouped by device (in order of first appearance), each device's in their order: its deltas
 * stay small. The forwarder hands them over grouped already; then they are used as they are.
 */
function groupedByDevice(readings: readonly StoredReading[]): [readonly StoredReading[], string[]] {
  const devices: string[] = []
  const seen = new Set<string>()
  let prev: string | undefined
  for (const r of readings) {
    if (r.device === prev) continue
    if (seen.has(r.device)) return regroup(readings)
    seen.add(r.device)
    devices.push(r.device)
    prev = r.device
  }
  return [readings, devices]
}

function regroup(readings: readonly StoredReading[]): [readonly StoredReading[], string[]] {
  const byDevice = new Map<string, StoredReading[]>()
  for (const r of readings) {
    const list = byDevice.get(r.device)
    if (list === undefined) byDevice.set(r.device, [r])
    else list.push(r)
  }
  return [[...byDevice.values()].flat(), [...byDevice.keys()]]
}

function tryBody(
  gatewayId: string,
  rows: readonly StoredReading[],
  devices: readonly string[],
  options: EncodeOptions,
  refused: ReadonlySet<string>
): Buffer | string {
  const n = rows.length
  const transcode = options.transcode ?? true
  const deviceIndex = new Map(devices.map((d, i) => [d, i]))
  const seq: Int[] = new Array(n)
  const recv: Int[] = new Array(n)
  const event: Array<Int | null> = new Array(n)
  const topics: unknown[] = []
  const topicIndex = new Map<string, number>()
  const topicIdx: Int[] = new Array(n)
  const qos: number[] = new Array(n)
  const kind: number[] = new Array(n)
  const raw: Buffer[] = []
  const shapeBySig = new Map<string, Shape>()
  const sigs: string[] = []
  const shapes: Shape[] = []
  const metadata: unknown[] = []
  let last: Shape | undefined
  let prevSeq = 0
  let prevRecv = 0
  let prevTopic = 0
  let prevDevice = ''
  let lastTopic = 0
  let lastTopicText: string | undefined
  let lastTopicDevice: string | undefined
  for (let i = 0; i < n; i++) {
    const r = rows[i]!
    if (!Number.isSafeInteger(r.seq) || r.seq < 0) throw new RangeError(`encodeBatch: bad seq ${r.seq}`)
    if (r.device === prevDevice && r.seq <= prevSeq) throw new RangeError(`encodeBatch: seq ${r.seq} not ascending`)
    if (!Number.isSafeInteger(r.recvMs) || r.recvMs < 0) throw new RangeError(`encodeBatch: bad recvMs ${r.recvMs}`)
    seq[i] = cborInt(r.seq - prevSeq)
    recv[i] = cborInt(r.recvMs - prevRecv)
    prevSeq = r.seq
    prevRecv = r.recvMs
    prevDevice = r.device
    // A device's clock can be anything: the offset may need more than 53 bits (CBOR has 64).
    if (r.eventMs === null) event[i] = null
    else if (!Number.isSafeInteger(r.eventMs)) throw new RangeError(`encodeBatch: bad eventMs ${r.eventMs}`)
    else if (Number.isSafeInteger(r.eventMs - r.recvMs)) event[i] = cborInt(r.eventMs - r.recvMs)
    else event[i] = BigInt(r.eventMs) - BigInt(r.recvMs)
    // A device's readings are side by side and mostly share a topic: look it up only when it changes.
    let t = lastTopic
    if (r.topic !== lastTopicText || r.device !== lastTopicDevice) {
      const key = `${r.device}\u0000${r.topic}`
      const known = topicIndex.get(key)
      if (known === undefined) {
        topicIndex.set(key, (t = topics.length))
        const d = deviceIndex.get(r.device)!
        const prefix = `${TOPIC_PREFIX}${r.device}/`
        topics.push(r.topic.startsWith(prefix) ? [d, r.topic.slice(prefix.length)] : [d, r.topic, 1])
      } else t = known
      lastTopic = t
      lastTopicText = r.topic
      lastTopicDevice = r.device
    }
    topicIdx[i] = t - prevTopic
    prevTopic = t
    if (r.qos !== 0 && r.qos !== 1 && r.qos !== 2) throw new RangeError(`encodeBatch: bad qos ${r.qos}`)
    qos[i] = r.qos
    if (r.props != null) {
      // Written by packMetadata; one damaged on disk must not stop the forwarder: the reading goes without it.
      const items = storedMetadata(r.props)
      if (items !== null) metadata.push([i, ...items])
    }
    const payload = Buffer.isBuffer(r.payload) ? r.payload : Buffer.from(r.payload as Uint8Array)
    const doc = transcode ? flatJson(payload, last, true) : null
    let sh = doc?.shape
    if (doc !== null && sh === undefined) {
      const sig = doc.keys.join('\u0000')
      sh = shapeBySig.get(sig)
      if (sh === undefined && !refused.has(sig)) {
        sh = {
          index: shapes.length,
          keys: doc.keys,
          tokens: doc.keys.map(k => Buffer.from(JSON.stringify(k) + ':')),
          cols: doc.keys.map(() => [])
        }
        shapeBySig.set(sig, sh)
        shapes.push(sh)
        sigs.push(sig)
      }
    }
    if (doc === null || sh === undefined) {
      kind[i] = 0
      raw.push(payload)
      continue
    }
    last = sh
    const cols = sh.cols
    for (let j = 0; j < cols.length; j++) cols[j]!.push(doc.values[j]!)
    kind[i] = sh.index + 1
  }
  const encodedShapes: unknown[] = new Array(shapes.length)
  for (let s = 0; s < shapes.length; s++) {
    const cols = shapes[s]!.cols.map(encodeColumnV2)
    if (cols.includes(null)) return sigs[s]!
    encodedShapes[s] = [shapes[s]!.keys, cols]
  }
  const v3 = batchVersionOf(rows) === FORMAT_VERSION_METADATA
  const body: unknown[] = new Array(v3 ? BODY_LENGTH_V3 : BODY_LENGTH)
  body[B_GATEWAY] = gatewayId
  body[B_TYPE] = options.kind === 'rollup' ? TYPE_ROLLUPS : TYPE_READINGS
  body[B_LANE] = options.lane === 'live' ? 1 : 0
  body[B_CLASS] = options.cls ?? ''
  body[B_DEVICES] = devices
  body[B_TOPICS] = topics
  body[B_TOPIC_IDX] = topicIdx
  body[B_SEQ] = seq
  body[B_RECV] = recv
  body[B_EVENT] = event
  body[B_QOS] = qos
  body[B_KIND] = kind
  body[B_RAW] = raw
  body[B_SHAPES] = encodedShapes
  if (v3) body[B_METADATA] = metadata
  return Buffer.from(encoder.encode(body))
}

// ---------------------------------------------------------------------------------------------
// files: one value, or a stream of length-prefixed values

/** Values as a stream: each one preceded by its length, 4 bytes big-endian. */
export function frameStream(values: readonly Buffer[]): Buffer {
  const parts: Buffer[] = []
  for (const v of values) {
    const len = Buffer.allocUnsafe(4)
    len.writeUInt32BE(v.length)
    parts.push(len, v)
  }
  return Buffer.concat(parts)
}

/**
 * The values in a file: the whole file when it starts with "HF" (one raw value, as a Kafka message
 * holds it), else length-prefixed values (frameStream). A length can never start with "HF" (1.2 GB).
 */
export function splitStream(data: Buffer): Buffer[] {
  if (data.length >= 2 && data[0] === MAGIC0 && data[1] === MAGIC1) return [data]
  const out: Buffer[] = []
  for (let at = 0; at < data.length; ) {
    if (at + 4 > data.length) fail(`truncated length prefix at byte ${at}`)
    const len = data.readUInt32BE(at)
    if (at + 4 + len > data.length)
      fail(`value at byte ${at} truncated (${len} bytes announced, ${data.length - at - 4} present)`)
    out.push(data.subarray(at + 4, at + 4 + len))
    at += 4 + len
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// decode

function headerText(
  headers: Record<string, string | Buffer | undefined> | undefined,
  name: string
): string | undefined {
  const v = headers?.[name]
  if (v === undefined) return undefined
  return typeof v === 'string' ? v : v.toString('utf8')
}

/** Envelope → uncompressed body; checks magic, version and codec. */
export function unframe(value: Buffer): Buffer {
  if (!Buffer.isBuffer(value)) fail('value is not a Buffer')
  if (value.length < HEADER_BYTES + 1) fail(`value too short (${value.length} bytes)`)
  if (value[0] !== MAGIC0 || value[1] !== MAGIC1) fail('not a Holdfast batch (magic "HF" missing)')
  if (!(FORMAT_VERSIONS as readonly number[]).includes(value[2]!))
    fail(`unsupported format version ${value[2]}`, { version: value[2] })
  const data = value.subarray(HEADER_BYTES)
  switch (value[3]) {
    case CODEC_NONE:
      return Buffer.from(data) // a copy: decoded payloads may be views into the body
    case CODEC_ZLIB:
      try {
        return inflateSync(data, { maxOutputLength: MAX_BODY_BYTES })
      } catch (err) {
        return fail(`zlib: ${(err as Error).message}`, {}, err)
      }
    default:
      return fail(`unknown codec ${value[3]}`, { codec: value[3] })
  }
}

/** One Kafka message of the batch topic, decoded. */
export interface DecodedMessage {
  version: number
  gatewayId: string
  /** raw: devices' readings; rollup: rollup records; control: a control record (no readings). */
  type: 'raw' | 'rollup' | 'control'
  readings: DecodedReading[]
  control: ControlRecord | null
}

type Headers = Record<string, string | Buffer | undefined>

/**
 * A message of either version. `headers` (as kafkajs gives them) are optional; when given, each hf-*
 * header present must agree with the body. Throws HoldfastError HF_ERR_DECODE on anything malformed.
 */
export function decodeMessage(value: Buffer, headers?: Headers): DecodedMessage {
  const body = unframe(value)
  const version = value[2]!
  const format = headerText(headers, HEADERS.format)
  if (format !== undefined && format !== String(version)) fail(`${HEADERS.format} ${format} disagrees with the value`)
  if (version === 1) return decodeV1(value, body, headers)
  let b: unknown
  try {
    b = decoder.decode(body)
  } catch (err) {
    return fail(`CBOR: ${(err as Error).message}`, {}, err)
  }
  if (!Array.isArray(b) || b.length < CONTROL_LENGTH) return fail('body is not an array')
  const gatewayId = text(b[B_GATEWAY], 'gateway id')
  const type = int(b[B_TYPE], 'type')
  const name = TYPE_NAMES[type] ?? fail(`unknown body type ${type}`)
  const kindHeader = headerText(headers, HEADERS.kind)
  if (kindHeader !== undefined && kindHeader !== name) fail(`${HEADERS.kind} ${kindHeader} disagrees with the body`)
  if (type === TYPE_CONTROL) {
    if (b.length !== CONTROL_LENGTH) fail(`control body is not an array of ${CONTROL_LENGTH}`)
    return { version, gatewayId, type: 'control', readings: [], control: controlFromCbor(gatewayId, b[2]) }
  }
  return { version, gatewayId, type: name as ReadingKind, readings: decodeBodyV2(b, version), control: null }
}

/** The readings of one message, in body order (control records have none). See decodeMessage. */
export function decodeBatch(value: Buffer, headers?: Headers): DecodedReading[] {
  return decodeMessage(value, headers).readings
}

function decodeV1(value: Buffer, body: Buffer, headers: Headers | undefined): DecodedMessage {
  const H = HEADERS_V1
  const ct = headerText(headers, H.contentType)
  if (ct !== undefined && ct !== CONTENT_TYPE) fail(`unexpected ${H.contentType} ${ct}`)
  const compression = headerText(headers, H.compression)
  if (compression !== undefined && compression !== CODEC_NAMES[value[3]!])
    fail(`${H.compression} ${compression} disagrees with the value`)
  const kind = headerText(headers, H.kind) === 'rollup' ? 'rollup' : 'raw'
  const lane = headerText(headers, H.lane) === 'live' ? 'live' : 'backlog'
  const meta: BatchMeta = { kind, lane, cls: headerText(headers, H.cls) ?? '' }
  const out = decodeBodyV1(body, meta)
  const expect = (name: string, actual: string): void => {
    const h = headerText(headers, name)
    if (h !== undefined && h !== actual) fail(`header ${name}=${h} disagrees with the body (${actual})`)
  }
  expect(H.gateway, out[0]!.gatewayId)
  expect(H.device, out[0]!.device)
  expect(H.count, String(out.length))
  expect(H.firstSeq, String(out[0]!.seq))
  expect(H.lastSeq, String(out[out.length - 1]!.seq))
  return { version: 1, gatewayId: out[0]!.gatewayId, type: kind, readings: out, control: null }
}

/** Version 2 and 3 bodies (3: one more item, the metadata). */
function decodeBodyV2(b: unknown[], version: number): DecodedReading[] {
  const length = version === FORMAT_VERSION_METADATA ? BODY_LENGTH_V3 : BODY_LENGTH
  if (b.length !== length) return fail(`version ${version} body is not an array of ${length}`)
  const gatewayId = text(b[B_GATEWAY], 'gateway id')
  const kind: ReadingKind = int(b[B_TYPE], 'type') === TYPE_ROLLUPS ? 'rollup' : 'raw'
  const lane = LANES[int(b[B_LANE], 'lane')] ?? fail('unknown lane')
  const cls = text(b[B_CLASS], 'class')
  const devices = array(b[B_DEVICES], 'devices').map(d => text(d, 'device'))
  const topics = array(b[B_TOPICS], 'topics').map(e => {
    const t = array(e, 'topic entry')
    const device = devices[int(t[0], 'topic device')] ?? fail('topic device out of range')
    const s = text(t[1], 'topic')
    if (t.length === 2) return { device, topic: `${TOPIC_PREFIX}${device}/${s}` }
    if (t.length === 3 && t[2] === 1) return { device, topic: s }
    return fail('malformed topic entry')
  })
  const topicD = array(b[B_TOPIC_IDX], 'topic index')
  const n = topicD.length
  if (n === 0) fail('empty batch')
  const seqD = array(b[B_SEQ], 'seq', n)
  const recvD = array(b[B_RECV], 'recvMs', n)
  const event = array(b[B_EVENT], 'eventMs', n)
  const qos = array(b[B_QOS], 'qos', n)
  const pkind = array(b[B_KIND], 'payload kind', n)
  const raw = array(b[B_RAW], 'raw payloads')
  const shapes = array(b[B_SHAPES], 'shapes').map((sh, s) => decodeShape(sh, s, 2))
  const out: DecodedReading[] = new Array(n)
  const payloads = new PayloadCursor(raw, shapes)
  const lastSeqOf = new Map<string, number>()
  let seq = 0
  let recvMs = 0
  let t = 0
  for (let i = 0; i < n; i++) {
    seq = safe(seq + int(seqD[i], 'seq'), 'seq')
    recvMs = safe(recvMs + int(recvD[i], 'recvMs'), 'recvMs')
    t = safe(t + int(topicD[i], 'topic index'), 'topic index')
    const topic = topics[t] ?? fail(`topic index ${t} out of range`)
    const prev = lastSeqOf.get(topic.device)
    if (prev !== undefined && seq <= prev) fail('seq not ascending within a device', { index: i })
    lastSeqOf.set(topic.device, seq)
    const ev = event[i]
    const eventMs =
      ev === null ? null : typeof ev === 'bigint' ? bigSum(recvMs, ev) : safe(recvMs + int(ev, 'eventMs'), 'eventMs')
    const q = int(qos[i], 'qos')
    if (q < 0 || q > 2) fail(`qos ${q}`)
    const k = int(pkind[i], 'payload kind')
    const payload = payloads.next(k)
    out[i] = {
      eventId: eventIdOf(gatewayId, seq),
      gatewayId,
      seq,
      device: topic.device,
      topic: topic.topic,
      payload,
      recvMs,
      eventMs,
      qos: q,
      kind,
      lane,
      cls
    }
  }
  payloads.finish()
  if (length === BODY_LENGTH_V3) addMetadata(out, array(b[B_METADATA], 'metadata'))
  return out
}

/** Body item 14: `[i, contentType, props]` per reading that has metadata, i strictly ascending. */
function addMetadata(readings: DecodedReading[], entries: unknown[]): void {
  let prev = -1
  for (const e of entries) {
    const [i, ct, props] = array(e, 'metadata entry', 3)
    const at = int(i, 'metadata index')
    if (at <= prev || at >= readings.length) fail(`metadata index ${at} out of order or range`)
    prev = at
    readings[at]!.metadata = metadataOf(ct, props)
  }
}
