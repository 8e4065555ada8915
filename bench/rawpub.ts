/**
 * rawpub — a minimal MQTT 3.1.1 QoS 1 load generator on raw TCP sockets.
 *
 * Every PUBLISH is encoded once per (topic, payload) template; sending copies
 * the template bytes and patches the 2-byte packet id. PUBACKs are parsed from
 * the byte stream (partial and coalesced frames handled) and matched by
 * packet id to measure PUBACK latency.
 *
 * Modes:
 *   closed  N connections each keep W QoS 1 publishes in flight.
 *   paced   N connections publish R msg/s in total, spread evenly over timer
 *           ticks, round-robin across connections.
 *
 * stdout: exactly one JSON result line. Progress goes to stderr.
 *
 *   node dist/bench/rawpub.js --host 127.0.0.1 --port 1883 --mode closed \
 *     --conns 100 --inflight 10 --duration 10
 *   node dist/bench/rawpub.js --port 1883 --mode paced --conns 500 --rate 20000
 */
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'

// ---------------------------------------------------------------- options

const HELP = `usage: node dist/bench/rawpub.js [options]
  --host H              broker host (default 127.0.0.1)
  --port P              broker port (default 1883)
  --mode closed|paced   (default closed)
  --conns N             connections (default 100)
  --inflight W          closed mode: publishes in flight per connection (default 10)
  --rate R              paced mode: total target msg/s (default 20000)
  --tick-ms T           paced mode: timer tick in ms (default 1)
  --max-inflight M      paced mode: per-connection packet-id window (default 1000)
  --duration S          measured seconds (default 10)
  --warmup S            unmeasured seconds before the window (default 1)
  --drain S             max seconds to wait for outstanding PUBACKs (default 5)
  --connect-timeout S   max seconds to establish all connections (default 30)
  --connect-concurrency K  parallel connection attempts (default 50)
  --client-prefix P     client id prefix (default "bench-"); client i is P<i>
  --username U / --password P   optional credentials
  --keepalive S         MQTT keepalive seconds (default 60)
  --protocol 4|5        MQTT 3.1.1 (4) or MQTT 5 (5) (default 4)
  --max-samples K       latency samples kept (reservoir beyond; default 5000000)
  --index-offset K      connection i uses client id P<K+i> and topic devices/dev-<K+i>/telemetry (default 0),
                        so several rawpub processes can share one broker without clashing
  --hist                add the window's latency histogram (hist: {bucket: count}) to the result line,
                        so a driver can merge several generators' latencies exactly to the bucket
  --interval S          also print one JSON line every S seconds while sending (interval: n, by PUBACK time,
                        warm-up included): acks, p50/p99/max of the PUBACKs received in it, and its histogram
  --quiet               no per-second progress on stderr
`

const { values: opt } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '1883' },
    mode: { type: 'string', default: 'closed' },
    conns: { type: 'string', default: '100' },
    inflight: { type: 'string', default: '10' },
    rate: { type: 'string', default: '20000' },
    'tick-ms': { type: 'string', default: '1' },
    'max-inflight': { type: 'string', default: '1000' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    drain: { type: 'string', default: '5' },
    'connect-timeout': { type: 'string', default: '30' },
    'connect-concurrency': { type: 'string', default: '50' },
    'client-prefix': { type: 'string', default: 'bench-' },
    username: { type: 'string' },
    password: { type: 'string' },
    keepalive: { type: 'string', default: '60' },
    protocol: { type: 'string', default: '4' },
    'max-samples': { type: 'string', default: '5000000' },
    'index-offset': { type: 'string', default: '0' },
    hist: { type: 'boolean', default: false },
    interval: { type: 'string', default: '0' },
    quiet: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false }
  },
  strict: true
})

if (opt.help) {
  process.stderr.write(HELP)
  process.exit(0)
}

function num(name: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v)
  if (!Number.isFinite(n) || n < min || n > max) {
    process.stderr.write(`rawpub: --${name} must be a number in [${min}, ${max}], got ${v}\n`)
    process.exit(2)
  }
  return n
}

const MODE = opt.mode
if (MODE !== 'closed' && MODE !== 'paced') {
  process.stderr.write(`rawpub: --mode must be closed or paced\n`)
  process.exit(2)
}
const HOST = opt.host!
const PORT = num('port', opt.port, 1, 65535)
const CONNS = Math.floor(num('conns', opt.conns, 1, 20000))
const INFLIGHT = Math.floor(num('inflight', opt.inflight, 1, 65535))
const RATE = num('rate', opt.rate, 1, 10_000_000)
const TICK_MS = num('tick-ms', opt['tick-ms'], 1, 100)
const MAX_INFLIGHT = Math.floor(num('max-inflight', opt['max-inflight'], 1, 65535))
const DURATION_S = num('duration', opt.duration, 0.1, 3600)
const WARMUP_S = num('warmup', opt.warmup, 0, 600)
const DRAIN_S = num('drain', opt.drain, 0, 600)
const CONNECT_TIMEOUT_S = num('connect-timeout', opt['connect-timeout'], 1, 600)
const CONNECT_CONC = Math.floor(num('connect-concurrency', opt['connect-concurrency'], 1, 10000))
const KEEPALIVE = Math.floor(num('keepalive', opt.keepalive, 0, 65535))
const PROTOCOL = Math.floor(num('protocol', opt.protocol, 4, 5))
/** MQTT 5 packets carry a properties length (0 here) after the variable header. */
const PROPS: number[] = PROTOCOL === 5 ? [0] : []
const MAX_SAMPLES = Math.floor(num('max-samples', opt['max-samples'], 1000, 100_000_000))
const PREFIX = opt['client-prefix']!
const INDEX_OFFSET = Math.floor(num('index-offset', opt['index-offset'], 0, 10_000_000))
const INTERVAL_S = num('interval', opt.interval, 0, 3600)
const QUIET = opt.quiet!

/** Packet ids usable per connection: the whole window in closed mode. */
const PID_SPACE = MODE === 'closed' ? INFLIGHT : MAX_INFLIGHT

function log(msg: string): void {
  if (!QUIET) process.stderr.write(`[rawpub] ${msg}\n`)
}

// ---------------------------------------------------------------- MQTT 3.1.1 encoding

function varint(n: number): number[] {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return out
}

function mqttString(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s
  const h = Buffer.allocUnsafe(2)
  h.writeUInt16BE(b.length, 0)
  return Buffer.concat([h, b])
}

function encodeConnect(clientId: string, keepalive: number, username?: string, password?: string): Buffer {
  let flags = 0x02 // clean session
  const payload: Buffer[] = [mqttString(clientId)]
  if (username !== undefined) {
    flags |= 0x80
    payload.push(mqttString(username))
    if (password !== undefined) {
      flags |= 0x40
      payload.push(mqttString(password))
    }
  }
  const vh = Buffer.from([
    0x00,
    0x04,
    0x4d,
    0x51,
    0x54,
    0x54,
    PROTOCOL,
    flags,
    keepalive >> 8,
    keepalive & 0xff,
    ...PROPS
  ])
  const body = Buffer.concat([vh, ...payload])
  return Buffer.concat([Buffer.from([0x10, ...varint(body.length)]), body])
}

interface PublishTemplate {
  bytes: Buffer
  pidOffset: number
  /** offset of the 13 ASCII digits of the payload's "ts" (epoch ms), or -1 */
  tsOffset: number
}

const TS_DIGITS = 13

/** QoS 1 PUBLISH with packet id 0 (patched at send time). */
function encodePublishTemplate(topic: string, payload: Buffer): PublishTemplate {
  const t = mqttString(topic)
  const remaining = t.length + 2 + PROPS.length + payload.length
  const fh = Buffer.from([0x32, ...varint(remaining)])
  const bytes = Buffer.concat([fh, t, Buffer.from([0, 0, ...PROPS]), payload])
  const pidOffset = fh.length + t.length
  const k = payload.indexOf('"ts":')
  const tsOffset = k < 0 ? -1 : pidOffset + 2 + PROPS.length + k + 5
  if (tsOffset >= 0 && !/^\d{13}[,}]/.test(bytes.subarray(tsOffset, tsOffset + TS_DIGITS + 1).toString('latin1'))) {
    throw new Error('payload template: "ts" must be a 13-digit epoch-ms number')
  }
  return { bytes, pidOffset, tsOffset }
}

const PINGREQ = Buffer.from([0xc0, 0x00])
const DISCONNECT = Buffer.from([0xe0, 0x00])

/**
 * A realistic ~90-byte telemetry JSON, deterministic per device. Its "ts" is
 * rewritten on every send (fixed width, so the packet length never changes):
 * each reading carries its own event time, as a real device's would. Identical
 * bytes would look like re-sends to a gateway that de-duplicates them.
 */
function payloadFor(i: number): Buffer {
  const r = (k: number): number => ((i * 2654435761 + k * 40503) >>> 0) % 1000
  const obj = {
    ts: 1732550000000,
    temp: +(18 + r(1) / 100).toFixed(2),
    hum: +(35 + r(2) / 50).toFixed(1),
    vib: +(r(3) / 50000).toFixed(3),
    bat: +(3.5 + r(4) / 2000).toFixed(2),
    rssi: -40 - (r(5) % 50),
    fw: '1.4.2'
  }
  return Buffer.from(JSON.stringify(obj), 'utf8')
}

// ---------------------------------------------------------------- latency recorder

/** Preallocated sample store; reservoir sampling (Algorithm R) past capacity. */
class LatencyRecorder {
  private readonly samples: Float64Array
  private n = 0 // samples stored
  seen = 0 // samples offered
  max = 0
  sum = 0
  private rng = 0x9e3779b9

  constructor(capacity: number) {
    this.samples = new Float64Array(capacity)
  }

  private rand(): number {
    // xorshift32
    let x = this.rng
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.rng = x >>> 0
    return this.rng / 4294967296
  }

  record(ms: number): void {
    this.seen++
    this.sum += ms
    if (ms > this.max) this.max = ms
    if (this.n < this.samples.length) {
      this.samples[this.n++] = ms
    } else {
      const j = Math.floor(this.rand() * this.seen)
      if (j < this.samples.length) this.samples[j] = ms
    }
  }

  summary(): {
    samples: number
    p50: number | null
    p90: number | null
    p99: number | null
    p999: number | null
    max: number | null
    mean: number | null
  } {
    if (this.n === 0) return { samples: 0, p50: null, p90: null, p99: null, p999: null, max: null, mean: null }
    const s = this.samples.subarray(0, this.n).slice().sort()
    const q = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!
    return {
      samples: this.seen,
      p50: q(0.5),
      p90: q(0.9),
      p99: q(0.99),
      p999: q(0.999),
      max: this.max,
      mean: this.sum / this.seen
    }
  }
}

// ---------------------------------------------------------------- mergeable histogram

/**
 * Log-bucketed latency histogram (2 % wide buckets from 10 µs): sparse, so drivers can add several
 * generators' or intervals' histograms and read percentiles from the sum. Bucket b holds samples in
 * (0.01 * 1.02^(b-1), 0.01 * 1.02^b] ms; a percentile is reported as its bucket's upper bound.
 */
const H_BASE = 0.01
const H_LOG = Math.log(1.02)
class Histogram {
  counts = new Map<number, number>()
  n = 0
  max = 0
  record(ms: number): void {
    const b = ms <= H_BASE ? 0 : Math.ceil(Math.log(ms / H_BASE) / H_LOG)
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1)
    this.n++
    if (ms > this.max) this.max = ms
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort((a, b) => a[0] - b[0]))
  }
  quantile(p: number): number | null {
    if (this.n === 0) return null
    const rank = Math.ceil(p * this.n)
    let seen = 0
    for (const [b, c] of [...this.counts.entries()].sort((x, y) => x[0] - y[0])) {
      seen += c
      if (seen >= rank) return Math.round(H_BASE * Math.exp(b * H_LOG) * 1000) / 1000
    }
    return this.max
  }
}

// ---------------------------------------------------------------- run state

const lat = new LatencyRecorder(MAX_SAMPLES)
const hist = new Histogram()
let intervalHist = new Histogram()
const st = {
  totalSent: 0,
  totalAcked: 0,
  sentInWindow: 0, // publishes sent inside the measured window
  ackedOfWindow: 0, // of those, how many got a PUBACK (before the drain deadline)
  ackedInWindow: 0, // PUBACKs received inside the measured window (throughput)
  windowFull: 0, // paced: sends skipped because the packet-id window was exhausted
  unexpectedAcks: 0,
  otherPackets: 0,
  disconnects: 0,
  errors: 0,
  firstError: '' as string,
  reads: 0, // socket read callbacks
  writes: 0, // PUBLISH writes (each carries >= 1 packet)
  maxTickLagMs: 0,
  ticks: 0,
  ticksLate: 0 // ticks that fired > 4 tick periods late
}

let measureStart = Infinity
let measureEnd = Infinity
let sendStop = Infinity // no sends at or after this instant
let sending = false
let phase: 'connect' | 'run' | 'drain' | 'done' = 'connect'

/** Shared read buffer: onread callbacks are synchronous, so one suffices. */
const READ_BUF = Buffer.allocUnsafe(256 * 1024)

class Conn {
  readonly sock: net.Socket
  private readonly tpl: Buffer
  private readonly pidOff: number
  private readonly tsOff: number
  private lastTs = 0 // strictly increasing per connection: every reading unique
  private readonly len: number
  private readonly sendTime: Float64Array
  private readonly freePids: Uint16Array
  private freeTop = 0
  private leftover: Buffer | null = null
  alive = false
  private onConnack: ((err?: Error) => void) | null = null

  constructor(
    readonly index: number,
    tpl: PublishTemplate
  ) {
    this.tpl = tpl.bytes
    this.pidOff = tpl.pidOffset
    this.tsOff = tpl.tsOffset
    this.len = tpl.bytes.length
    this.sendTime = new Float64Array(PID_SPACE + 1)
    this.freePids = new Uint16Array(PID_SPACE)
    // pop order 1, 2, 3, ...
    for (let p = PID_SPACE; p >= 1; p--) this.freePids[this.freeTop++] = p
    // onread must be given to the constructor (socket.connect() ignores it):
    // incoming bytes land in the shared READ_BUF, no per-read allocation.
    this.sock = new net.Socket({
      onread: { buffer: READ_BUF, callback: (n: number, buf: Uint8Array) => this.onRead(n, buf as Buffer) }
    } as net.SocketConstructorOpts)
  }

  get inflight(): number {
    return PID_SPACE - this.freeTop
  }

  get free(): number {
    return this.freeTop
  }

  connect(connectPacket: Buffer, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`conn ${this.index}: CONNACK timeout`)), timeoutMs)
      const done = (err?: Error): void => {
        clearTimeout(timer)
        this.onConnack = null
        if (err) {
          this.sock.destroy()
          reject(err)
        } else {
          this.alive = true
          resolve()
        }
      }
      this.onConnack = done
      this.sock.on('error', (e: Error) => {
        st.errors++
        if (!st.firstError) st.firstError = `conn ${this.index}: ${e.message}`
        if (this.onConnack) this.onConnack(e)
      })
      this.sock.on('close', () => {
        if (this.alive && phase !== 'done') st.disconnects++
        this.alive = false
        if (this.onConnack) this.onConnack(new Error(`conn ${this.index}: closed before CONNACK`))
      })
      this.sock.connect({ host: HOST, port: PORT }, () => {
        this.sock.setNoDelay(true)
        this.sock.write(connectPacket)
      })
    })
  }

  /** Send up to k publishes in one write; returns how many were sent. */
  send(k: number, now: number): number {
    if (!this.alive) return 0
    if (k > this.freeTop) k = this.freeTop
    if (k <= 0) return 0
    const len = this.len
    const tpl = this.tpl
    const off = this.pidOff
    const out = Buffer.allocUnsafe(k * len)
    const inWindow = now >= measureStart && now < measureEnd
    const tsOff = this.tsOff
    let ts = Date.now()
    if (ts <= this.lastTs) ts = this.lastTs + 1
    for (let j = 0, o = 0; j < k; j++, o += len, ts++) {
      tpl.copy(out, o, 0, len)
      const pid = this.freePids[--this.freeTop]!
      out[o + off] = pid >> 8
      out[o + off + 1] = pid & 0xff
      this.sendTime[pid] = now
      if (tsOff >= 0) {
        let v = ts
        for (let d = o + tsOff + TS_DIGITS - 1; d >= o + tsOff; d--) {
          out[d] = 0x30 + (v % 10)
          v = Math.floor(v / 10)
        }
      }
    }
    this.lastTs = ts - 1
    this.sock.write(out)
    st.writes++
    st.totalSent += k
    if (inWindow) st.sentInWindow += k
    return k
  }

  ping(): void {
    if (this.alive) this.sock.write(PINGREQ)
  }

  close(): void {
    if (this.alive) {
      this.alive = false
      this.sock.end(DISCONNECT)
    }
    setTimeout(() => this.sock.destroy(), 200).unref()
  }

  private onRead(nread: number, buf: Buffer): boolean {
    let data: Buffer
    let end: number
    if (this.leftover !== null) {
      data = Buffer.concat([this.leftover, buf.subarray(0, nread)])
      end = data.length
      this.leftover = null
    } else {
      data = buf
      end = nread
    }
    const now = performance.now()
    st.reads++
    let off = 0
    let acks = 0
    // Each iteration consumes one complete packet; bounded by the bytes read.
    while (end - off >= 2) {
      const type = data[off]!
      let rl = 0
      let mul = 1
      let p = off + 1
      let complete = false
      for (let i = 0; i < 4 && p < end; i++) {
        const b = data[p++]!
        rl += (b & 0x7f) * mul
        mul *= 128
        if ((b & 0x80) === 0) {
          complete = true
          break
        }
      }
      if (!complete) {
        if (p - off - 1 >= 4) return this.protocolError('malformed remaining length')
        break // need more bytes for the length
      }
      if (p + rl > end) break // need more bytes for the body
      const kind = type >> 4
      if (kind === 4) {
        // PUBACK
        if (rl < 2) return this.protocolError('short PUBACK')
        const pid = (data[p]! << 8) | data[p + 1]!
        const t0 = pid <= PID_SPACE ? this.sendTime[pid]! : 0
        if (t0 === 0) {
          st.unexpectedAcks++
        } else {
          this.sendTime[pid] = 0
          this.freePids[this.freeTop++] = pid
          acks++
          st.totalAcked++
          if (now >= measureStart && now < measureEnd) st.ackedInWindow++
          if (t0 >= measureStart && t0 < measureEnd) {
            st.ackedOfWindow++
            lat.record(now - t0)
            if (opt.hist) hist.record(now - t0)
          }
          if (INTERVAL_S > 0) intervalHist.record(now - t0)
        }
      } else if (kind === 2) {
        // CONNACK
        const rc = rl >= 2 ? data[p + 1]! : 255
        if (this.onConnack) this.onConnack(rc === 0 ? undefined : new Error(`conn ${this.index}: CONNACK rc=${rc}`))
      } else if (kind === 13) {
        // PINGRESP
      } else {
        st.otherPackets++
      }
      off = p + rl
    }
    if (off < end) this.leftover = Buffer.from(data.subarray(off, end)) // copy: READ_BUF is reused
    if (acks > 0 && MODE === 'closed' && sending && now < sendStop) this.send(this.freeTop, now)
    return true
  }

  private protocolError(msg: string): boolean {
    st.errors++
    if (!st.firstError) st.firstError = `conn ${this.index}: ${msg}`
    this.alive = false
    this.sock.destroy()
    return false
  }
}

// ---------------------------------------------------------------- main

function result(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const s = lat.summary()
  const r3 = (x: number | null): number | null => (x === null ? null : Math.round(x * 1000) / 1000)
  return {
    tool: 'rawpub',
    mode: MODE,
    host: HOST,
    port: PORT,
    conns: CONNS,
    ...(MODE === 'closed' ? { inflight: INFLIGHT } : { targetRate: RATE, tickMs: TICK_MS, maxInflight: MAX_INFLIGHT }),
    durationS: DURATION_S,
    warmupS: WARMUP_S,
    msgsPerS: Math.round(st.ackedInWindow / DURATION_S),
    sentPerS: Math.round(st.sentInWindow / DURATION_S),
    p50Ms: r3(s.p50),
    p90Ms: r3(s.p90),
    p99Ms: r3(s.p99),
    p999Ms: r3(s.p999),
    maxMs: r3(s.max),
    meanMs: r3(s.mean),
    samples: s.samples,
    sentInWindow: st.sentInWindow,
    ackedOfWindow: st.ackedOfWindow,
    ackedInWindow: st.ackedInWindow,
    unacked: st.totalSent - st.totalAcked,
    totalSent: st.totalSent,
    totalAcked: st.totalAcked,
    ...(MODE === 'paced'
      ? { windowFull: st.windowFull, maxTickLagMs: r3(st.maxTickLagMs), ticksLate: st.ticksLate, ticks: st.ticks }
      : {}),
    reads: st.reads,
    writes: st.writes,
    unexpectedAcks: st.unexpectedAcks,
    otherPackets: st.otherPackets,
    disconnects: st.disconnects,
    errors: st.errors,
    ...(st.firstError ? { firstError: st.firstError } : {}),
    ...(opt.hist ? { hist: hist.toJSON() } : {}),
    ...extra
  }
}

function emit(r: Record<string, unknown>, code: number): never {
  process.stdout.write(JSON.stringify(r) + '\n')
  process.exit(code)
}

const sleep = (ms: number): Promise<void> => new Promise(res => setTimeout(res, ms))

async function main(): Promise<void> {
  const hardDeadlineMs = (CONNECT_TIMEOUT_S + WARMUP_S + DURATION_S + DRAIN_S + 15) * 1000
  setTimeout(() => {
    emit(result({ ok: false, error: `hard deadline (${hardDeadlineMs} ms) hit in phase ${phase}` }), 3)
  }, hardDeadlineMs)

  // Encode everything up front.
  const conns: Conn[] = []
  for (let i = 0; i < CONNS; i++) {
    const d = INDEX_OFFSET + i
    conns.push(new Conn(d, encodePublishTemplate(`devices/dev-${d}/telemetry`, payloadFor(d))))
  }
  const sample = encodePublishTemplate(`devices/dev-${INDEX_OFFSET}/telemetry`, payloadFor(INDEX_OFFSET))
  log(
    `mode=${MODE} conns=${CONNS} ${MODE === 'closed' ? `inflight=${INFLIGHT}` : `rate=${RATE}/s`} publish=${sample.bytes.length}B payload=${payloadFor(0).length}B`
  )

  // Connect in bounded batches.
  const tc0 = performance.now()
  const connectDeadline = tc0 + CONNECT_TIMEOUT_S * 1000
  for (let i = 0; i < CONNS; i += CONNECT_CONC) {
    const left = connectDeadline - performance.now()
    if (left <= 0) throw new Error('connect timeout')
    const batch = conns.slice(i, i + CONNECT_CONC)
    await Promise.all(
      batch.map(c => c.connect(encodeConnect(`${PREFIX}${c.index}`, KEEPALIVE, opt.username, opt.password), left))
    )
  }
  log(`connected ${CONNS} in ${(performance.now() - tc0).toFixed(0)} ms`)

  // Keepalive pings (traffic also counts, but be safe during slow drains).
  const pingTimer = KEEPALIVE > 0 ? setInterval(() => conns.forEach(c => c.ping()), (KEEPALIVE * 1000) / 2) : null

  // Schedule phases.
  const t0 = performance.now()
  measureStart = t0 + WARMUP_S * 1000
  measureEnd = measureStart + DURATION_S * 1000
  sendStop = measureEnd
  sending = true
  phase = 'run'
  let cpu0: NodeJS.CpuUsage | null = null
  let cpuWindow: NodeJS.CpuUsage | null = null
  const armCpu = setTimeout(() => (cpu0 = process.cpuUsage()), Math.max(0, measureStart - performance.now()))

  // Progress once per second.
  let lastAcked = 0
  let lastT = t0
  const progress = setInterval(() => {
    const now = performance.now()
    const d = st.totalAcked - lastAcked
    let infl = 0
    for (const c of conns) infl += c.inflight
    log(
      `t=${((now - t0) / 1000).toFixed(1)}s acks/s=${Math.round((d * 1000) / (now - lastT))} inflight=${infl} sent=${st.totalSent} acked=${st.totalAcked}`
    )
    lastAcked = st.totalAcked
    lastT = now
  }, 1000)

  // Interval lines: PUBACKs received in each interval, with their latency histogram.
  let intervalN = 0
  let intervalAcked = 0
  let intervalStart = t0
  const intervals =
    INTERVAL_S > 0
      ? setInterval(() => {
          const h = intervalHist
          intervalHist = new Histogram()
          process.stdout.write(
            JSON.stringify({
              interval: ++intervalN,
              tS: Math.round((performance.now() - t0) / 100) / 10,
              inWindow: intervalStart >= measureStart - 1,
              acksPerS: Math.round((st.totalAcked - intervalAcked) / INTERVAL_S),
              p50Ms: h.quantile(0.5),
              p99Ms: h.quantile(0.99),
              maxMs: h.n === 0 ? null : Math.round(h.max * 1000) / 1000,
              hist: h.toJSON()
            }) + '\n'
          )
          intervalAcked = st.totalAcked
          intervalStart = performance.now()
        }, INTERVAL_S * 1000)
      : null

  if (MODE === 'closed') {
    const now = performance.now()
    for (const c of conns) c.send(INFLIGHT, now)
    await sleep(Math.max(0, sendStop - performance.now()) + 1)
  } else {
    // Paced: at each tick send floor(RATE * elapsed) - scheduled messages,
    // spread round-robin; each connection gets at most one write per tick.
    let scheduled = 0
    let cursor = 0
    let lastTick = performance.now()
    const maxDuePerTick = Math.max(1, Math.ceil(RATE)) // catch up at most 1 s worth at once
    await new Promise<void>(resolve => {
      const timer = setInterval(() => {
        const now = performance.now()
        st.ticks++
        const lag = now - lastTick - TICK_MS
        if (lag > st.maxTickLagMs && now > t0 + 50) st.maxTickLagMs = lag
        if (lag > 4 * TICK_MS) st.ticksLate++
        lastTick = now
        if (now >= sendStop) {
          clearInterval(timer)
          resolve()
          return
        }
        const target = Math.floor((RATE * (now - t0)) / 1000)
        let due = target - scheduled
        if (due <= 0) return
        if (due > maxDuePerTick) {
          st.windowFull += due - maxDuePerTick // treat as dropped, never silently
          scheduled += due - maxDuePerTick
          due = maxDuePerTick
        }
        scheduled += due
        const full = Math.floor(due / CONNS)
        let rem = due - full * CONNS
        if (full > 0) {
          for (const c of conns) st.windowFull += full - c.send(full, now)
          // dead connections count as windowFull (they cannot send)
        }
        for (let k = 0; rem > 0 && k < CONNS; k++, rem--) {
          const c = conns[cursor]!
          cursor = cursor + 1 === CONNS ? 0 : cursor + 1
          st.windowFull += 1 - c.send(1, now)
        }
      }, TICK_MS)
    })
  }
  sending = false
  clearTimeout(armCpu)
  if (cpu0) cpuWindow = process.cpuUsage(cpu0)
  const windowEndedAt = performance.now()

  // Drain outstanding PUBACKs (bounded in time).
  phase = 'drain'
  const drainDeadline = performance.now() + DRAIN_S * 1000
  for (;;) {
    let infl = 0
    for (const c of conns) if (c.alive) infl += c.inflight
    if (infl === 0 || performance.now() >= drainDeadline) break
    await sleep(10)
  }
  const drainMs = performance.now() - windowEndedAt
  clearInterval(progress)
  if (intervals) clearInterval(intervals)
  if (pingTimer) clearInterval(pingTimer)
  phase = 'done'
  for (const c of conns) c.close()

  const windowMs = DURATION_S * 1000
  const cpuMs = cpuWindow ? (cpuWindow.user + cpuWindow.system) / 1000 : null
  const r = result({
    ok: st.errors === 0 && st.disconnects === 0 && st.totalSent === st.totalAcked,
    drainMs: Math.round(drainMs),
    genCpuPct: cpuMs === null ? null : Math.round((cpuMs / windowMs) * 1000) / 10,
    genCpuUserMs: cpuWindow ? Math.round(cpuWindow.user / 1000) : null,
    genCpuSysMs: cpuWindow ? Math.round(cpuWindow.system / 1000) : null,
    genCpuTotalMs: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1000), // whole process lifetime
    publishBytes: sample.bytes.length,
    payloadBytes: payloadFor(0).length
  })
  log(`done: ${r.msgsPerS} msg/s p50=${r.p50Ms}ms p99=${r.p99Ms}ms genCpu=${r.genCpuPct}%`)
  emit(r, 0)
}

main().catch((e: unknown) => {
  emit(result({ ok: false, error: e instanceof Error ? e.message : String(e) }), 1)
})
