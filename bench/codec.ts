/**
 * Batch format benchmark: bytes per reading and CPU per reading for each candidate layout and
 * compression, on simulated telemetry (device-sim's SensorModel, 100 devices at 1 Hz, batched per
 * device up to 1000 readings, seq and receive times assigned as the gateway would).
 *
 *   node dist/bench/codec.js [--devices 100] [--seconds 1000] [--batch 1000] [--repeat 3] [--quick]
 *
 * stdout: one JSON line per option, then one line per batch size for the chosen format, then a
 * `choice` line. Progress goes to stderr. `ratio` is uplink bytes / raw JSON payload bytes.
 */
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import zlib from 'node:zlib'
import { Encoder, Decoder } from 'cbor-x'
import { SensorModel, seeded } from '../device-sim/telemetry.js'
import { eventTimeOf } from '../src/codec/reading.js'
import type { StoredReading } from '../src/store/reading.js'
import {
  encodeBody,
  decodeMessage,
  frame,
  encodeBatch,
  decodeBatch,
  CODEC_NONE,
  KAFKA_COMPRESSION,
  ZLIB_LEVEL
} from '../src/codec/batch.js'

const { values: opt } = parseArgs({
  options: {
    devices: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '1000' },
    repeat: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false }
  }
})
const DEVICES = Number(opt.devices)
const SECONDS = Number(opt.seconds)
const BATCH = Number(opt.batch)
const REPEAT = Number(opt.repeat)
const GATEWAY = 'plant-7-gw1'

// ---------------------------------------------------------------------------------------------
// simulated fleet → readings as the buffer would hold them

interface Sent {
  device: string
  payload: Buffer
  arriveMs: number
}

function simulate(): Map<string, StoredReading[]> {
  const rnd = seeded(42)
  const t0 = 1_760_000_000_000
  const sent: Sent[] = []
  for (let d = 0; d < DEVICES; d++) {
    const device = `press-${String(d).padStart(3, '0')}`
    const model = new SensorModel(seeded(1000 + d))
    const phase = rnd() * 1000
    // Most device clocks are close; some are seconds off (event time ≠ receive time).
    const clockOffset = rnd() < 0.2 ? (rnd() - 0.5) * 10_000 : (rnd() - 0.5) * 40
    for (let k = 0; k < SECONDS; k++) {
      const sendMs = t0 + phase + k * 1000 + rnd() * 2 // timer jitter
      sent.push({ device, payload: model.next(Math.round(sendMs + clockOffset)), arriveMs: sendMs + 1 + rnd() * 5 })
    }
  }
  sent.sort((a, b) => a.arriveMs - b.arriveMs)
  const byDevice = new Map<string, StoredReading[]>()
  let seq = 5_000_000 // the gateway has been running a while
  let lastRecv = 0
  for (const s of sent) {
    const recvMs = (lastRecv = Math.max(lastRecv, Math.floor(s.arriveMs)))
    let list = byDevice.get(s.device)
    if (list === undefined) byDevice.set(s.device, (list = []))
    list.push({
      seq: seq++,
      device: s.device,
      topic: `devices/${s.device}/telemetry`,
      payload: s.payload,
      recvMs,
      eventMs: eventTimeOf(s.payload),
      qos: 1
    })
  }
  return byDevice
}

function batchesOf(byDevice: Map<string, StoredReading[]>, size: number): StoredReading[][] {
  const out: StoredReading[][] = []
  for (const list of byDevice.values()) for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size))
  return out
}

// ---------------------------------------------------------------------------------------------
// layouts: readings → uncompressed bytes, and back

interface Layout {
  name: string
  cbor: string
  encode: (b: StoredReading[]) => Buffer
  decode: (buf: Buffer) => number
}

/** A payload as a JSON value when re-serialising gives the same bytes (same rule as the format), else bytes. */
function jsonOrBytes(p: Buffer): unknown {
  if (p[0] !== 0x7b) return p
  const s = p.toString('utf8')
  if (s.includes('\\u')) return p
  try {
    const v = JSON.parse(s) as unknown
    return JSON.stringify(v) === s ? v : p
  } catch {
    return p
  }
}

function rowLayout(records: boolean, transcode: boolean): Layout {
  const enc = new Encoder({ useRecords: records, tagUint8Array: false })
  const dec = new Decoder({ useRecords: records })
  return {
    name: transcode ? 'row-json' : 'row-raw',
    cbor: records ? 'records' : 'plain',
    encode: b =>
      Buffer.from(
        enc.encode({
          gateway: GATEWAY,
          device: b[0]!.device,
          readings: b.map(r => ({
            seq: r.seq,
            recvMs: r.recvMs,
            eventMs: r.eventMs,
            topic: r.topic,
            qos: r.qos,
            payload: transcode ? jsonOrBytes(r.payload) : r.payload
          }))
        })
      ),
    decode: buf => {
      const doc = dec.decode(buf) as { readings: Array<{ payload: unknown }> }
      let n = 0
      for (const r of doc.readings)
        n += Buffer.isBuffer(r.payload) ? r.payload.length : Buffer.from(JSON.stringify(r.payload)).length
      return n
    }
  }
}

const LAYOUTS: Layout[] = [
  rowLayout(false, false),
  rowLayout(true, false),
  rowLayout(false, true),
  rowLayout(true, true),
  {
    name: 'columnar-raw',
    cbor: 'plain',
    encode: b => encodeBody(GATEWAY, b, { transcode: false }),
    decode: buf => decodeMessage(frame(buf)).readings.length
  },
  {
    name: 'columnar-shapes',
    cbor: 'plain',
    encode: b => encodeBody(GATEWAY, b),
    decode: buf => decodeMessage(frame(buf)).readings.length
  }
]

// ---------------------------------------------------------------------------------------------
// compressions

interface Compression {
  name: string
  level: number | null
  kafka?: boolean
  c: (b: Buffer) => Buffer
  d: (b: Buffer) => Buffer
}
const brotli = (q: number): Compression => ({
  name: 'brotli',
  level: q,
  c: b =>
    zlib.brotliCompressSync(b, {
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: q, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length }
    }),
  d: b => zlib.brotliDecompressSync(b)
})
const COMPRESSIONS: Compression[] = [
  { name: 'none', level: null, c: b => b, d: b => b },
  ...[1, 6, 9].map(
    (level): Compression => ({
      name: 'deflate-raw',
      level,
      c: b => zlib.deflateRawSync(b, { level }),
      d: b => zlib.inflateRawSync(b)
    })
  ),
  { name: 'zlib', level: 6, c: b => zlib.deflateSync(b, { level: 6 }), d: b => zlib.inflateSync(b) },
  { name: 'gzip', level: 6, c: b => zlib.gzipSync(b, { level: 6 }), d: b => zlib.gunzipSync(b) },
  ...(opt.quick ? [1, 5] : [1, 4, 5, 6, 9, 11]).map(brotli),
  // Kafka-level GZIP (kafkajs: zlib.gzip, default level) over the uncompressed value.
  { name: 'kafka-gzip', level: 6, kafka: true, c: b => zlib.gzipSync(b), d: b => zlib.gunzipSync(b) }
]

// ---------------------------------------------------------------------------------------------

/** Record key + hf-* header names and values, as encodeBatch writes them. */
function metaOf(b: StoredReading[]): Buffer {
  const m = encodeBatch(GATEWAY, b)
  return Buffer.from(
    m.key +
      Object.entries(m.headers)
        .map(([k, v]) => k + v)
        .join('')
  )
}

function timeIt(fn: () => void, repeat: number): number {
  let best = Infinity
  for (let i = 0; i < repeat; i++) {
    const t = performance.now()
    fn()
    best = Math.min(best, performance.now() - t)
  }
  return best
}

const round = (v: number, d = 3): number => Math.round(v * 10 ** d) / 10 ** d
const log = (s: string): void => {
  process.stderr.write(s + '\n')
}

function main(): void {
  log(`simulating ${DEVICES} devices × ${SECONDS} s at 1 Hz …`)
  const byDevice = simulate()
  const batches = batchesOf(byDevice, BATCH)
  const readings = batches.reduce((n, b) => n + b.length, 0)
  const rawBytes = batches.reduce((n, b) => n + b.reduce((m, r) => m + r.payload.length, 0), 0)
  const rawPer = rawBytes / readings
  const metas = batches.map(metaOf)
  const meta = metas.reduce((n, m) => n + m.length, 0)
  log(`${readings} readings in ${batches.length} batches, raw JSON ${round(rawPer, 1)} B/reading`)

  for (const layout of LAYOUTS) {
    // Warm up the encoder (JIT, cbor-x structures) before timing.
    for (const b of batches.slice(0, 5)) layout.decode(layout.encode(b))
    let encoded: Buffer[] = []
    const encMs = timeIt(() => {
      encoded = batches.map(layout.encode)
    }, REPEAT)
    for (const comp of COMPRESSIONS) {
      const slow = comp.name === 'brotli' && (comp.level ?? 0) >= 9
      let packed: Buffer[] = []
      const cMs = timeIt(
        () => {
          packed = encoded.map(comp.c)
        },
        slow ? 1 : REPEAT
      )
      let restored: Buffer[] = []
      const dMs = timeIt(() => {
        restored = packed.map(comp.d)
      }, REPEAT)
      const decMs = timeIt(() => {
        for (const r of restored) layout.decode(r)
      }, REPEAT)
      const bytes = packed.reduce((n, p) => n + p.length, 0) + 4 * packed.length // + the 4-byte envelope
      // Kafka-level gzip compresses key and headers along with the value.
      const kafkaMeta =
        comp.kafka === true
          ? encoded.reduce((n, e, i) => n + comp.c(Buffer.concat([metas[i]!, e])).length, 0) + 4 * packed.length
          : bytes + meta
      console.log(
        JSON.stringify({
          layout: layout.name,
          cbor: layout.cbor,
          compression: comp.name,
          level: comp.level,
          readings,
          batches: batches.length,
          rawJsonBytesPerReading: round(rawPer, 1),
          bytesPerReading: round(bytes / readings),
          ratio: round(bytes / rawBytes, 4),
          withHeadersBytesPerReading: round(kafkaMeta / readings),
          withHeadersRatio: round(kafkaMeta / rawBytes, 4),
          encodeUsPerReading: round(((encMs + cMs) * 1000) / readings),
          decodeUsPerReading: round(((dMs + decMs) * 1000) / readings)
        })
      )
    }
  }

  // The chosen format end to end (encodeBatch/decodeBatch) at the batch sizes the forwarder makes:
  // 1000 while draining a backlog, a handful per device on the live lane. Kafka-level GZIP works
  // per partition on the record batch of one produce request: `kafkaGzip<g>Ratio` gzips groups of
  // g consecutive messages (key, headers, value), one batch per device — g = 1 is a request with a
  // single message per partition, g = 100 all devices in one partition.
  for (const size of [1, 10, 100, 1000])
    for (const compress of [false, true]) {
      const bs = batchesOf(byDevice, size)
      const sample = size >= 100 ? bs : bs.filter((_, i) => i % Math.max(1, Math.floor(bs.length / 20_000)) === 0)
      const n = sample.reduce((m, b) => m + b.length, 0)
      const raw = sample.reduce((m, b) => m + b.reduce((k, r) => k + r.payload.length, 0), 0)
      for (const b of sample.slice(0, 50)) decodeBatch(encodeBatch(GATEWAY, b, { compress }).value)
      let msgs: Array<ReturnType<typeof encodeBatch>> = []
      const encMs = timeIt(() => {
        msgs = sample.map(b => encodeBatch(GATEWAY, b, { compress }))
      }, REPEAT)
      const decMs = timeIt(() => {
        for (const m of msgs) decodeBatch(m.value, m.headers)
      }, REPEAT)
      const value = msgs.reduce((m, x) => m + x.value.length, 0)
      const records = msgs.map(m =>
        Buffer.concat([
          Buffer.from(
            m.key +
              Object.entries(m.headers)
                .map(([k, v]) => k + v)
                .join('')
          ),
          m.value
        ])
      )
      const headers = records.reduce((m, r) => m + r.length, 0) - value
      const kafka: Record<string, number> = {}
      let gzipMs = 0
      for (const g of [1, 16, 100]) {
        // Interleave devices as a produce request would: message i of the request is device i's batch.
        const perDevice = [...byDevice.keys()].map(d => records.filter((_, i) => msgs[i]!.key === d))
        let bytes = 0
        const t = performance.now()
        for (let round = 0; round < perDevice[0]!.length; round++) {
          const req = perDevice.map(list => list[round]).filter(r => r !== undefined) as Buffer[]
          for (let i = 0; i < req.length; i += g) bytes += zlib.gzipSync(Buffer.concat(req.slice(i, i + g))).length
        }
        if (g === 16) gzipMs = performance.now() - t
        kafka[`kafkaGzip${g}Ratio`] = round(bytes / raw, 4)
      }
      const compressed = msgs.filter(m => m.value[3] !== CODEC_NONE).length
      console.log(
        JSON.stringify({
          chosen: 'columnar-shapes',
          valueCompression: compress ? 'zlib' : 'none',
          batchSize: size,
          readings: n,
          compressedShare: round(compressed / msgs.length, 3),
          valueBytesPerReading: round(value / n),
          valueRatio: round(value / raw, 4),
          withHeadersRatio: round((value + headers) / raw, 4),
          ...kafka,
          encodeUsPerReading: round((encMs * 1000) / n),
          kafkaGzipUsPerReading: round((gzipMs * 1000) / n),
          decodeUsPerReading: round((decMs * 1000) / n)
        })
      )
    }
  // Sanity: the chosen format restores every byte.
  for (const b of batches) {
    const got = decodeBatch(encodeBatch(GATEWAY, b).value)
    for (let i = 0; i < b.length; i++)
      if (!got[i]!.payload.equals(b[i]!.payload)) throw new Error('round trip lost bytes')
  }
  console.log(
    JSON.stringify({
      choice: 'columnar-shapes',
      valueCompression: 'none by default (zlib level ' + String(ZLIB_LEVEL) + ' with { compress: true })',
      kafkaCompression: KAFKA_COMPRESSION
    })
  )
}

main()
