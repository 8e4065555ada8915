/**
 * Edge aggregation benchmark: uplink bytes per reading for `raw`, `rollup` (10 s windows) and `both`,
 * on simulated telemetry (device-sim's SensorModel, 100 devices at 1 Hz), and the CPU cost of
 * aggregation per 1,000 readings.
 *
 *   node dist/bench/aggregate.js [--devices 100] [--seconds 600] [--window-ms 10000] [--repeat 3]
 *
 * The rule picks temp, hum, vib and bat (with units). Each mode runs the real path: classify (admission), the group-committed buffer with the aggregator
 * as its commit hook (windows persisted in the same transaction, rollups inserted as readings), one
 * commit per simulated second (100 readings). Then what the forwarder would send is encoded with the
 * batch format and the forwarder's headers, and measured two ways:
 *   live  — one produce request per second, as readings and rollups are committed;
 *   drain — everything at once after an outage (batches of up to 1000 readings per device).
 * Wire bytes = Kafka-level gzip of each partition's messages (key + headers + value; 3 partitions)
 * plus 24 bytes per message and 64 per request of framing. Bytes per reading divide by the readings
 * the devices sent (for rollups: the readings the emitted rollups cover).
 * stdout: one JSON line per mode and pattern, then one line per mode for CPU.
 */
import { parseArgs } from 'node:util'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import zlib from 'node:zlib'
import type { Message } from 'kafkajs'
import { SensorModel, seeded } from '../device-sim/telemetry.js'
import { openDatabase } from '../src/store/db.js'
import { ReadingBuffer } from '../src/store/buffer.js'
import { KIND_ROLLUP, type StoredReading } from '../src/store/reading.js'
import { encodeBatch } from '../src/codec/batch.js'
import { Counters } from '../src/metrics/counters.js'
import { PriorityClasses } from '../src/forward/priority.js'
import { Aggregator } from '../src/aggregate/aggregator.js'
import { createClassifier } from '../src/aggregate/classify.js'
import { buildRules } from '../src/aggregate/rules.js'
import { parsePayload } from '../src/aggregate/payload.js'
import { absorb, newMetric, type MetricState } from '../src/aggregate/stats.js'

const { values: opt } = parseArgs({
  options: {
    devices: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '600' },
    'window-ms': { type: 'string', default: '10000' },
    repeat: { type: 'string', default: '3' }
  }
})
const DEVICES = Number(opt.devices)
const SECONDS = Number(opt.seconds)
const WINDOW = Number(opt['window-ms'])
const REPEAT = Number(opt.repeat)
const GATEWAY = 'plant-7-gw1'
const PARTITIONS = 3
/** The rule's schema: the sensor fields (SensorModel's `n` is a counter, not a measurement). */
const FIELDS = ['temp:°C', 'hum:%', 'vib:g', 'bat:V']
const round = (v: number, d = 2): number => Math.round(v * 10 ** d) / 10 ** d

type Mode = 'raw' | 'rollup' | 'both'

/** Per simulated second, each device's reading (event time = the device's clock). */
function simulate(): Array<Array<{ device: string; payload: Buffer }>> {
  const rnd = seeded(42)
  const t0 = 1_760_000_000_000
  const models = Array.from({ length: DEVICES }, (_, d) => ({
    device: `press-${String(d).padStart(3, '0')}`,
    model: new SensorModel(seeded(1000 + d)),
    phase: rnd() * 1000
  }))
  const out: Array<Array<{ device: string; payload: Buffer }>> = []
  for (let s = 0; s < SECONDS; s++)
    out.push(models.map(m => ({ device: m.device, payload: m.model.next(Math.round(t0 + s * 1000 + m.phase)) })))
  return out
}

interface Run {
  mode: Mode
  commits: StoredReading[][]
  raw: number
  covered: number
  cpuUs: number
}

function runMode(mode: Mode, seconds: Array<Array<{ device: string; payload: Buffer }>>): Run {
  const dir = mkdtempSync(join(tmpdir(), 'hf-bench-agg-'))
  try {
    const db = openDatabase({ dataDir: dir, synchronous: 'normal' })
    const buffer = new ReadingBuffer(db)
    const classes = new PriorityClasses({})
    const rules = buildRules(
      mode === 'raw'
        ? {}
        : { tele: { topics: ['devices/+/telemetry'], mode, windowMs: WINDOW, latenessMs: 5000, fields: FIELDS } }
    )
    const aggregator = new Aggregator({ db, rules, priorityOf: t => classes.of(t).priority, counters: new Counters() })
    buffer.writer.setHook(aggregator)
    const classify = createClassifier(rules, classes, 0)
    const noop = (): void => {}
    let lastSeq = buffer.writer.lastSeq()
    const commitRanges: Array<[number, number]> = []
    const cpu0 = process.cpuUsage()
    for (const second of seconds) {
      for (const { device, payload } of second) {
        const topic = `devices/${device}/telemetry`
        const c = classify(topic, payload)
        buffer.writer.append(
          {
            device,
            topic,
            payload,
            eventMs: c.meta !== undefined ? c.eventMs! : JSON.parse(payload.toString()).ts,
            qos: 1,
            cls: c.cls,
            kind: c.kind,
            keepMs: c.keepMs,
            meta: c.meta
          },
          noop
        )
      }
      buffer.writer.flush()
      commitRanges.push([lastSeq, buffer.writer.lastSeq()])
      lastSeq = buffer.writer.lastSeq()
    }
    const cpu = process.cpuUsage(cpu0)
    // What the forwarder would send: every lane's rows, by the commit that wrote them.
    const rows = buffer.lanes
      .list()
      .flatMap(l => buffer.lanes.readLane(l.cls, l.kind, 0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER))
      .sort((a, b) => a.seq - b.seq)
    const commits: StoredReading[][] = commitRanges.map(() => [])
    let k = 0
    for (const r of rows) {
      while (r.seq > commitRanges[k]![1]) k++
      commits[k]!.push(r)
    }
    const raw = rows.filter(r => r.kind !== KIND_ROLLUP).length
    const covered = rows
      .filter(r => r.kind === KIND_ROLLUP)
      .reduce((n, r) => n + (JSON.parse(r.payload.toString()) as { count: number }).count, 0)
    buffer.close()
    return { mode, commits, raw, covered, cpuUs: cpu.user + cpu.system }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The forwarder's messages for a set of rows: per kind, batches of up to 1000 keyed by the gateway. */
function messagesOf(rows: StoredReading[]): Message[] {
  const groups = new Map<string, StoredReading[]>()
  for (const r of rows) {
    const key = String(r.kind ?? 0)
    let g = groups.get(key)
    if (g === undefined) groups.set(key, (g = []))
    g.push(r)
  }
  const out: Message[] = []
  for (const list of groups.values()) {
    for (let i = 0; i < list.length; i += 1000) {
      const part = list.slice(i, i + 1000)
      const kind = part[0]!.kind === KIND_ROLLUP ? 'rollup' : 'raw'
      const m = encodeBatch(GATEWAY, part, { kind, lane: 'backlog', cls: 'telemetry' })
      out.push({ key: m.key, value: m.value, headers: m.headers })
    }
  }
  return out
}

const partitionOf = (key: string): number => {
  let h = 0
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0
  return Math.abs(h) % PARTITIONS
}

/** Bytes on the link for one produce request (see the header comment). */
function wireBytes(messages: Message[]): number {
  if (messages.length === 0) return 0
  const parts: Buffer[][] = Array.from({ length: PARTITIONS }, () => [])
  for (const m of messages) {
    const p = parts[partitionOf(m.key as string)]!
    p.push(Buffer.from(m.key as string))
    for (const [k, v] of Object.entries(m.headers ?? {})) p.push(Buffer.from(k), Buffer.from(String(v)))
    p.push(m.value as Buffer)
  }
  let bytes = 64 + 24 * messages.length
  for (const p of parts) if (p.length > 0) bytes += zlib.gzipSync(Buffer.concat(p)).length
  return bytes
}

function measure(run: Run): void {
  const live = run.commits.reduce((n, c) => n + wireBytes(messagesOf(c)), 0)
  const all = run.commits.flat()
  let drain = 0
  for (let i = 0; i < all.length; i += 50_000) drain += wireBytes(messagesOf(all.slice(i, i + 50_000)))
  const rawRows = all.filter(r => r.kind !== KIND_ROLLUP)
  const rollRows = all.filter(r => r.kind === KIND_ROLLUP)
  const sentReadings = DEVICES * SECONDS
  for (const [pattern, bytes] of [
    ['live', live],
    ['drain', drain]
  ] as const) {
    // Per reading: raw bytes over raw readings, rollup bytes over the readings they cover.
    const rawShare =
      pattern === 'live'
        ? run.commits.reduce((n, c) => n + wireBytes(messagesOf(c.filter(r => r.kind !== KIND_ROLLUP))), 0)
        : wireBytes(messagesOf(rawRows))
    const rollShare = bytes - rawShare
    const perReading =
      (rawRows.length > 0 ? rawShare / rawRows.length : 0) + (rollRows.length > 0 ? rollShare / run.covered : 0)
    process.stdout.write(
      JSON.stringify({
        bench: 'aggregate-bytes',
        mode: run.mode,
        windowMs: run.mode === 'raw' ? null : WINDOW,
        pattern,
        devices: DEVICES,
        hz: 1,
        seconds: SECONDS,
        readingsSent: sentReadings,
        rawForwarded: rawRows.length,
        rollups: rollRows.length,
        readingsCoveredByRollups: run.covered,
        wireBytes: bytes,
        bytesPerReading: round(perReading, 3),
        meanPayloadBytes: round(
          all.filter(r => r.kind !== KIND_ROLLUP).reduce((n, r) => n + r.payload.length, 0) /
            Math.max(1, rawRows.length),
          1
        )
      }) + '\n'
    )
  }
}

const SCHEMA = { fields: ['temp', 'hum', 'vib', 'bat'], units: {}, timeField: '' }

/** Aggregation alone, in memory: parse the payload and absorb its metrics into a window. */
function pureCost(seconds: Array<Array<{ device: string; payload: Buffer }>>): number {
  const flat = seconds.flat()
  const windows = new Map<string, Map<string, MetricState>>()
  const t0 = process.cpuUsage()
  let seq = 0
  for (const { device, payload } of flat) {
    const p = parsePayload(payload, SCHEMA)!
    const ev = p.eventMs!
    const key = `${device} ${Math.floor(ev / WINDOW)}`
    let w = windows.get(key)
    if (w === undefined) windows.set(key, (w = new Map()))
    for (let i = 0; i < p.names.length; i++) {
      let m = w.get(p.names[i]!)
      if (m === undefined) w.set(p.names[i]!, (m = newMetric()))
      absorb(m, p.values[i]!, ev, seq++)
    }
  }
  const c = process.cpuUsage(t0)
  return ((c.user + c.system) / flat.length) * 1000
}

const seconds = simulate()
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const cpu: Record<Mode, number[]> = { raw: [], rollup: [], both: [] }
for (let r = 0; r < REPEAT; r++) {
  for (const mode of ['raw', 'rollup', 'both'] as const) {
    process.stderr.write(`run ${r + 1}/${REPEAT} ${mode}\n`)
    const run = runMode(mode, seconds)
    cpu[mode].push((run.cpuUs / (DEVICES * SECONDS)) * 1000)
    if (r === 0) measure(run)
  }
}
const pure = median(Array.from({ length: REPEAT }, () => pureCost(seconds)))
for (const mode of ['raw', 'rollup', 'both'] as const) {
  process.stdout.write(
    JSON.stringify({
      bench: 'aggregate-cpu',
      mode,
      windowMs: mode === 'raw' ? null : WINDOW,
      readings: DEVICES * SECONDS,
      commitsOf: DEVICES,
      cpuUsPer1000Readings: Math.round(median(cpu[mode])),
      aggregationCpuUsPer1000Readings: mode === 'raw' ? 0 : Math.round(median(cpu[mode]) - median(cpu.raw)),
      note: 'classify + group commit (synchronous=normal) + aggregator hook, user+system CPU; aggregation = this mode minus raw'
    }) + '\n'
  )
}
process.stdout.write(
  JSON.stringify({
    bench: 'aggregate-cpu-pure',
    cpuUsPer1000Readings: Math.round(pure),
    note: 'parse JSON payload + absorb 4 metrics, in memory, no SQLite'
  }) + '\n'
)
