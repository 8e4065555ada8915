/**
 * The uplink batch format, version 1: one Kafka message holds a batch of one device's readings.
 * Pure functions, no I/O. README.md "Batch format" is the specification a consumer writes
 * against; change the two together (and FORMAT_VERSION when old decoders would misread).
 *
 * value = "HF" | version byte | codec byte | body   (codec 0: body as is, the default, compressed by
 *         Kafka-level GZIP; codec 1: body zlib-compressed (RFC 1950), optional for other transports)
 * body  = CBOR array, columnar: seq, receive-time and event-time columns, a topic dictionary,
 *         and payloads either raw (byte strings) or, for flat JSON objects whose text is exactly
 *         what JSON.stringify would write, transposed into per-key columns ("shapes") with
 *         decimal numbers stored as scaled, delta-coded integers. Both restore the exact bytes.
 */
import { deflateSync, inflateSync } from 'node:zlib'
import { Encoder, Decoder } from 'cbor-x'
import { HoldfastError } from '../errors.js'
import type { StoredReading } from '../store/reading.js'

export const FORMAT_VERSION = 1
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

export const HEADERS = {
  contentType: 'hf-content-type',
  format: 'hf-format',
  gateway: 'hf-gateway',
  device: 'hf-device',
  count: 'hf-count',
  firstSeq: 'hf-first-seq',
  lastSeq: 'hf-last-seq',
  compression: 'hf-compression'
} as const

export interface BatchMessage {
  key: string
  value: Buffer
  headers: Record<string, string>
}
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
}

/** `${gatewayId}:${seq}`. Gateway ids never contain ':', so the last ':' splits it back. */
export function eventIdOf(gatewayId: string, seq: number): string {
  return `${gatewayId}:${seq}`
}

// Body positions (README documents the same table).
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

const COL_PLAIN = 0
const COL_SCALED = 1
/** 10^k is exact in a double up to k = 22; 15 decimals is plenty for sensor values. */
const MAX_SCALE = 15
const POW10 = Array.from({ length: MAX_SCALE + 1 }, (_, k) => 10 ** k)

type Int = number | bigint
type Scalar = string | number | bigint | boolean | null
type Column = [typeof COL_PLAIN, Scalar[]] | [typeof COL_SCALED, number, Int[]]

const encoder = new Encoder({ useRecords: false, tagUint8Array: false, pack: false })
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true })

/** CBOR has 64-bit integers; cbor-x writes numbers beyond 32 bits as float64 unless given a bigint. */
const cborInt = (n: number): Int => (n <= 0xffffffff && n >= -0xffffffff ? n : BigInt(n))

// ---------------------------------------------------------------------------------------------
// encode

export interface EncodeOptions {
  /** Transpose eligible JSON payloads into columns (default true); false keeps every payload raw. */
  transcode?: boolean
  /**
   * zlib inside the value (codec 1) when that makes it smaller. Default false: the producer's
   * Kafka-level GZIP does better. For transports without compression (files, other queues).
   */
  compress?: boolean
}

/**
 * One Kafka message for `readings`, which must all belong to `device` and come in ascending seq
 * order (as the buffer returns them). Deterministic: the same input gives the same bytes.
 */
export function encodeBatch(
  gatewayId: string,
  device: string,
  readings: readonly StoredReading[],
  options: EncodeOptions = {}
): BatchMessage {
  const body = encodeBody(gatewayId, device, readings, options.transcode ?? true)
  const value = frame(body, options.compress ?? false)
  return {
    key: device,
    value,
    headers: {
      [HEADERS.contentType]: CONTENT_TYPE,
      [HEADERS.format]: String(FORMAT_VERSION),
      [HEADERS.gateway]: gatewayId,
      [HEADERS.device]: device,
      [HEADERS.count]: String(readings.length),
      [HEADERS.firstSeq]: String(readings[0]!.seq),
      [HEADERS.lastSeq]: String(readings[readings.length - 1]!.seq),
      [HEADERS.compression]: CODEC_NAMES[value[3]!]!
    }
  }
}

/** Envelope: magic, version, codec, then the (maybe compressed) body. */
export function frame(body: Buffer, compress = false): Buffer {
  if (compress) {
    const z = deflateSync(body, { level: ZLIB_LEVEL })
    if (z.length < body.length) return withHeader(CODEC_ZLIB, z)
  }
  return withHeader(CODEC_NONE, body)
}

function withHeader(codec: number, data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + data.length)
  out[0] = MAGIC0
  out[1] = MAGIC1
  out[2] = FORMAT_VERSION
  out[3] = codec
  data.copy(out, HEADER_BYTES)
  return out
}

/** The uncompressed CBOR body (exported for the benchmark and tests). */
export function encodeBody(
  gatewayId: string,
  device: string,
  readings: readonly StoredReading[],
  transcode = true
): Buffer {
  const n = readings.length
  if (n === 0) throw new RangeError('encodeBatch: a batch holds at least one reading')
  const seq: Int[] = new Array(n)
  const recv: Int[] = new Array(n)
  const event: Array<Int | null> = new Array(n)
  const topics: string[] = []
  const topicIndex = new Map<string, number>()
  const topicIdx: number[] = new Array(n)
  const qos: number[] = new Array(n)
  const kind: number[] = new Array(n)
  const raw: Buffer[] = []
  const shapeBySig = new Map<string, Shape>()
  const shapes: Shape[] = []
  let last: Shape | undefined
  let prevSeq = 0
  let prevRecv = 0
  for (let i = 0; i < n; i++) {
    const r = readings[i]!
    if (r.device !== device) throw new RangeError(`encodeBatch: reading ${r.seq} belongs to ${r.device}, not ${device}`)
    if (!Number.isSafeInteger(r.seq) || (i > 0 && r.seq <= prevSeq))
      throw new RangeError(`encodeBatch: seq ${r.seq} not ascending`)
    if (!Number.isSafeInteger(r.recvMs) || r.recvMs < 0) throw new RangeError(`encodeBatch: bad recvMs ${r.recvMs}`)
    seq[i] = cborInt(r.seq - prevSeq)
    recv[i] = cborInt(r.recvMs - prevRecv)
    prevSeq = r.seq
    prevRecv = r.recvMs
    // A device's clock can be anything: the offset may need more than 53 bits (CBOR has 64).
    if (r.eventMs === null) event[i] = null
    else if (!Number.isSafeInteger(r.eventMs)) throw new RangeError(`encodeBatch: bad eventMs ${r.eventMs}`)
    else if (Number.isSafeInteger(r.eventMs - r.recvMs)) event[i] = cborInt(r.eventMs - r.recvMs)
    else event[i] = BigInt(r.eventMs) - BigInt(r.recvMs)
    let t = topicIndex.get(r.topic)
    if (t === undefined) {
      topicIndex.set(r.topic, (t = topics.length))
      topics.push(r.topic)
    }
    topicIdx[i] = t
    if (r.qos !== 0 && r.qos !== 1 && r.qos !== 2) throw new RangeError(`encodeBatch: bad qos ${r.qos}`)
    qos[i] = r.qos
    const payload = Buffer.isBuffer(r.payload) ? r.payload : Buffer.from(r.payload as Uint8Array)
    const doc = transcode ? flatJson(payload, last) : null
    if (doc === null) {
      kind[i] = 0
      raw.push(payload)
      continue
    }
    let sh = doc.shape
    if (sh === undefined) {
      const sig = doc.keys.join('\u0000')
      sh = shapeBySig.get(sig)
      if (sh === undefined) {
        sh = {
          index: shapes.length,
          keys: doc.keys,
          tokens: doc.keys.map(k => Buffer.from(JSON.stringify(k) + ':')),
          cols: doc.keys.map(() => [])
        }
        shapeBySig.set(sig, sh)
        shapes.push(sh)
      }
    }
    last = sh
    const cols = sh.cols
    for (let j = 0; j < cols.length; j++) cols[j]!.push(doc.values[j]!)
    kind[i] = sh.index + 1
  }
  const body: unknown[] = new Array(BODY_LENGTH)
  body[B_GATEWAY] = gatewayId
  body[B_DEVICE] = device
  body[B_SEQ] = seq
  body[B_RECV] = recv
  body[B_EVENT] = event
  body[B_TOPICS] = topics
  body[B_TOPIC_IDX] = topicIdx
  body[B_QOS] = qos
  body[B_KIND] = kind
  body[B_RAW] = raw
  body[B_SHAPES] = shapes.map(sh => [sh.keys, sh.cols.map(encodeColumn)])
  return Buffer.from(encoder.encode(body))
}

/** One key list (in order) seen in this batch, with its value columns. */
interface Shape {
  index: number
  keys: string[]
  tokens: Buffer[]
  cols: Scalar[][]
}
/** A transcodable payload; `shape` is set when its keys are exactly those of the hint. */
interface Flat {
  shape: Shape | undefined
  keys: string[]
  values: Scalar[]
}

/**
 * A payload that is a flat JSON object (scalar values) written exactly as JSON.stringify writes
 * it, so that re-serialising the values restores every byte; anything else is null (kept raw).
 */
function flatJson(p: Buffer, hint: Shape | undefined): Flat | null {
  const len = p.length
  if (len < 3 || p[0] !== 0x7b || p[len - 1] !== 0x7d) return null
  return scanFlat(p, hint) ?? parseFlat(p)
}

/**
 * Slow path: JSON.parse, then JSON.stringify must give the text back. Texts with \\u escapes
 * are refused: they are the only way to write a lone surrogate, which CBOR (UTF-8) cannot carry.
 */
function parseFlat(p: Buffer): Flat | null {
  const text = p.toString('utf8')
  // Invalid UTF-8 decodes to U+FFFD and would not come back as the same bytes.
  if (text.includes('\\u') || (text.includes('\uFFFD') && !Buffer.from(text, 'utf8').equals(p))) return null
  let doc: Record<string, unknown>
  try {
    doc = JSON.parse(text) as Record<string, unknown>
  } catch {
    return null
  }
  const keys = Object.keys(doc)
  if (keys.length === 0) return null // `{}`: nothing to gain, and a shape needs a column to count its rows
  const values: Scalar[] = new Array(keys.length)
  for (let j = 0; j < keys.length; j++) {
    const v = doc[keys[j]!]
    if (typeof v === 'object' && v !== null) return null
    values[j] = v as Scalar
  }
  if (JSON.stringify(doc) !== text) return null
  return { shape: undefined, keys, values }
}

const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,9})$/

const matchAt = (p: Buffer, tok: Buffer, at: number): boolean => {
  if (at + tok.length > p.length) return false
  for (let k = 0; k < tok.length; k++) if (p[at + k] !== tok[k]) return false
  return true
}

/** Index of the closing quote of an ASCII string starting after `at`, or -1 for anything else. */
const asciiString = (p: Buffer, at: number): number => {
  for (let i = at; i < p.length; i++) {
    const c = p[i]!
    if (c === 0x22) return i
    if (c === 0x5c || c < 0x20 || c >= 0x80) return -1
  }
  return -1
}

/**
 * Fast path for the common case, several times cheaper than parse + stringify: one scan of the
 * bytes that accepts only tokens JSON.stringify provably writes this way — ASCII strings without
 * escapes or control characters, true/false/null, and plain decimals of at most 15 digits with
 * |v| in [1e-6, 1e15) and no superfluous zeros (ECMAScript Number::toString writes such a decimal
 * back digit for digit, and m / 10^k with exact m and 10^k is the correctly rounded double, as
 * JSON.parse computes it). Anything else returns undefined and goes to the slow path, which decides.
 * Keys equal to the previous reading's are matched as bytes, without making strings.
 */
function scanFlat(p: Buffer, hint: Shape | undefined): Flat | undefined {
  const keys: string[] = []
  const values: Scalar[] = []
  const end = p.length - 1 // the closing brace
  let same = hint !== undefined
  let i = 1
  for (let j = 0; ; j++) {
    const tok = same && j < hint!.tokens.length ? hint!.tokens[j]! : undefined
    if (tok !== undefined && matchAt(p, tok, i)) {
      keys.push(hint!.keys[j]!)
      i += tok.length
    } else {
      same = false
      if (p[i] !== 0x22) return undefined
      const q = asciiString(p, i + 1)
      if (q < 0) return undefined
      const key = p.toString('latin1', i + 1, q)
      // Integer-like keys are enumerated first by JS objects, so the order could change; duplicates collapse.
      if (p[q + 1] !== 0x3a || ARRAY_INDEX.test(key) || keys.length >= 64 || keys.includes(key)) return undefined
      keys.push(key)
      i = q + 2
    }
    const c = p[i]
    if (c === 0x22) {
      const q = asciiString(p, i + 1)
      if (q < 0) return undefined
      values.push(p.toString('latin1', i + 1, q))
      i = q + 1
    } else if (c === 0x74 && p[i + 1] === 0x72 && p[i + 2] === 0x75 && p[i + 3] === 0x65) {
      values.push(true)
      i += 4
    } else if (c === 0x66 && p[i + 1] === 0x61 && p[i + 2] === 0x6c && p[i + 3] === 0x73 && p[i + 4] === 0x65) {
      values.push(false)
      i += 5
    } else if (c === 0x6e && p[i + 1] === 0x75 && p[i + 2] === 0x6c && p[i + 3] === 0x6c) {
      values.push(null)
      i += 4
    } else {
      const neg = c === 0x2d
      if (neg) i++
      const i0 = i
      let m = 0
      let d = p[i]! - 0x30
      if (!(d >= 0 && d <= 9)) return undefined
      for (; d >= 0 && d <= 9; d = p[++i]! - 0x30) m = m * 10 + d
      const intDigits = i - i0
      const zeroInt = p[i0] === 0x30
      if (intDigits > 1 && zeroInt) return undefined // leading zero
      let k = 0
      if (p[i] === 0x2e) {
        const f0 = ++i
        for (d = p[i]! - 0x30; d >= 0 && d <= 9; d = p[++i]! - 0x30) m = m * 10 + d
        k = i - f0
        // A trailing 0 would be dropped; below 1e-6 Number::toString switches to exponent form.
        if (k === 0 || p[i - 1] === 0x30 || (zeroInt && k >= 6 && m < POW10[k - 6]!)) return undefined
      }
      if (intDigits + k > 15 || (neg && m === 0)) return undefined
      values.push(neg ? -m / POW10[k]! : m / POW10[k]!)
    }
    const sep = p[i++]
    if (sep === 0x7d) {
      if (i !== end + 1) return undefined
      return { shape: same && keys.length === hint!.keys.length ? hint : undefined, keys, values }
    }
    if (sep !== 0x2c) return undefined
  }
}

/** The smallest scale k ≥ from with round(v·10^k) / 10^k === v, or -1. */
function scaleOf(v: number, from: number): number {
  for (let k = from; k <= MAX_SCALE; k++) {
    const p = POW10[k]!
    const m = Math.round(v * p)
    if (Number.isSafeInteger(m) && m / p === v) return k
  }
  return -1
}

/**
 * All-number columns whose values are decimals of at most MAX_SCALE places become scaled integers,
 * delta-coded (value_i = (Σ_{j≤i} d_j) / 10^k); the decoder's one IEEE division restores each double.
 */
function encodeColumn(values: Scalar[]): Column {
  let k = 0
  for (const v of values) {
    if (typeof v !== 'number') return plainColumn(values)
    k = scaleOf(v, k)
    if (k < 0) return plainColumn(values)
  }
  const p = POW10[k]!
  const out: Int[] = new Array(values.length)
  let prev = 0
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number
    const m = Math.round(v * p)
    const d = m - prev
    if (m / p !== v || !Number.isSafeInteger(m) || !Number.isSafeInteger(d)) return plainColumn(values)
    out[i] = cborInt(d)
    prev = m
  }
  return [COL_SCALED, k, out]
}

function plainColumn(values: Scalar[]): Column {
  return [COL_PLAIN, values.map(v => (typeof v === 'number' && Number.isSafeInteger(v) ? cborInt(v) : v))]
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

const fail = (message: string, details: Record<string, unknown> = {}, cause?: unknown): never => {
  throw new HoldfastError(
    'HF_ERR_DECODE',
    `batch could not be decoded: ${message}`,
    details,
    cause === undefined ? undefined : { cause }
  )
}

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
  if (value[2] !== FORMAT_VERSION) fail(`unsupported format version ${value[2]}`, { version: value[2] })
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

/**
 * Every reading of one batch, in seq order, with its exact payload bytes. `headers` (as kafkajs
 * gives them) are optional; when given, each hf-* header present must agree with the body.
 * Throws HoldfastError HF_ERR_DECODE on anything malformed.
 */
export function decodeBatch(value: Buffer, headers?: Record<string, string | Buffer | undefined>): DecodedReading[] {
  const format = headerText(headers, HEADERS.format)
  if (format !== undefined && format !== String(FORMAT_VERSION)) fail(`unsupported ${HEADERS.format} ${format}`)
  const ct = headerText(headers, HEADERS.contentType)
  if (ct !== undefined && ct !== CONTENT_TYPE) fail(`unexpected ${HEADERS.contentType} ${ct}`)
  const compression = headerText(headers, HEADERS.compression)
  const body = unframe(value)
  if (compression !== undefined && compression !== CODEC_NAMES[value[3]!])
    fail(`${HEADERS.compression} ${compression} disagrees with the value`)
  const out = decodeBody(body)
  const expect = (name: string, actual: string): void => {
    const h = headerText(headers, name)
    if (h !== undefined && h !== actual) fail(`header ${name}=${h} disagrees with the body (${actual})`)
  }
  expect(HEADERS.gateway, out[0]!.gatewayId)
  expect(HEADERS.device, out[0]!.device)
  expect(HEADERS.count, String(out.length))
  expect(HEADERS.firstSeq, String(out[0]!.seq))
  expect(HEADERS.lastSeq, String(out[out.length - 1]!.seq))
  return out
}

/** The uncompressed CBOR body → readings (exported for the benchmark). */
export function decodeBody(body: Buffer): DecodedReading[] {
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
  const shapes = array(b[B_SHAPES], 'shapes').map(decodeShape)

  const out: DecodedReading[] = new Array(n)
  const rowOf = new Array<number>(shapes.length).fill(0)
  let rawNext = 0
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
    let payload: Buffer
    if (k === 0) {
      const p = raw[rawNext++]
      if (!(p instanceof Uint8Array)) return fail(`raw payload ${rawNext - 1} missing or not bytes`)
      payload = Buffer.isBuffer(p) ? p : Buffer.from(p)
    } else {
      const shape = shapes[k - 1]
      if (shape === undefined) return fail(`payload kind ${k} out of range`)
      const row = rowOf[k - 1]!++
      if (row >= shape.rows) fail(`shape ${k - 1} has only ${shape.rows} rows`)
      payload = shape.payloads[row]!
    }
    out[i] = {
      eventId: eventIdOf(gatewayId, seq),
      gatewayId,
      seq,
      device,
      topic: topics[t]!,
      payload,
      recvMs,
      eventMs,
      qos: q
    }
  }
  if (rawNext !== raw.length) fail(`${raw.length - rawNext} raw payloads left over`)
  for (let s = 0; s < shapes.length; s++) if (rowOf[s] !== shapes[s]!.rows) fail(`shape ${s} has rows left over`)
  return out
}

interface DecodedShape {
  rows: number
  payloads: Buffer[]
}

function decodeShape(sh: unknown, s: number): DecodedShape {
  if (!Array.isArray(sh) || sh.length !== 2) return fail(`shape ${s} is not [keys, columns]`)
  const keys = array(sh[0], 'shape keys').map(k => text(k, 'shape key'))
  if (keys.length === 0) fail(`shape ${s} has no keys`)
  const cols = array(sh[1], 'shape columns', keys.length).map(c => decodeColumn(c))
  const rows = cols[0]!.length
  for (const c of cols) if (c.length !== rows) fail(`shape ${s}: columns of different lengths`)
  // Exactly what JSON.stringify writes for an object with these keys, in this order.
  const prefixes = keys.map((k, j) => (j === 0 ? '{' : ',') + JSON.stringify(k) + ':')
  const texts: string[] = new Array(rows)
  for (let row = 0; row < rows; row++) {
    let t = ''
    for (let j = 0; j < cols.length; j++) t += prefixes[j]! + JSON.stringify(cols[j]![row])
    texts[row] = t + '}'
  }
  // One buffer for the whole shape, sliced per row (when ASCII, chars are bytes).
  const all = Buffer.from(texts.join(''), 'utf8')
  let payloads: Buffer[]
  if (all.length === texts.reduce((n, t) => n + t.length, 0)) {
    payloads = new Array(rows)
    for (let row = 0, at = 0; row < rows; at += texts[row]!.length, row++)
      payloads[row] = all.subarray(at, at + texts[row]!.length)
  } else {
    payloads = texts.map(t => Buffer.from(t, 'utf8'))
  }
  return { rows, payloads }
}

function decodeColumn(c: unknown): Array<string | number | boolean | null> {
  if (!Array.isArray(c)) return fail('column is not an array')
  if (c[0] === COL_PLAIN && c.length === 2) {
    return array(c[1], 'plain column').map(v => {
      if (typeof v === 'bigint') return safe(Number(v), 'column value')
      if (
        v === null ||
        typeof v === 'string' ||
        typeof v === 'boolean' ||
        (typeof v === 'number' && Number.isFinite(v))
      )
        return v
      return fail(`column value of type ${typeof v}`)
    })
  }
  if (c[0] === COL_SCALED && c.length === 3) {
    const k = int(c[1], 'scale')
    if (k < 0 || k > 22) fail(`scale ${k}`)
    const p = 10 ** k
    let m = 0
    return array(c[2], 'scaled column').map(d => {
      m = safe(m + int(d, 'scaled value'), 'scaled value')
      return k === 0 ? m : m / p
    })
  }
  return fail(`unknown column type ${String(c[0])}`)
}

function array(v: unknown, what: string, length?: number): unknown[] {
  if (!Array.isArray(v)) return fail(`${what} is not an array`)
  if (length !== undefined && v.length !== length) fail(`${what} has ${v.length} entries, expected ${length}`)
  return v
}

function text(v: unknown, what: string): string {
  return typeof v === 'string' ? v : fail(`${what} is not text`)
}

function int(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER))
    return Number(v)
  return fail(`${what} is not a safe integer`)
}

/** recvMs + an offset beyond 53 bits; the sum must still be a safe integer. */
function bigSum(recvMs: number, offset: bigint): number {
  const sum = BigInt(recvMs) + offset
  return sum <= BigInt(Number.MAX_SAFE_INTEGER) && sum >= BigInt(Number.MIN_SAFE_INTEGER)
    ? Number(sum)
    : fail('eventMs out of the safe integer range')
}

function safe(n: number, what: string): number {
  return Number.isSafeInteger(n) ? n : fail(`${what} out of the safe integer range`)
}
