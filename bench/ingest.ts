/**
 * Ingest benchmark driver: Mosquitto vs Holdfast under QoS 1 load from rawpub.
 *
 * For each target and scenario a fresh broker is started (pinned to one core),
 * rawpub runs pinned to the other core, the broker is stopped, and one JSON
 * line is printed. Ratio lines (holdfast/mosquitto) follow. stdout carries
 * JSON lines only; progress and child stderr go to stderr.
 *
 *   node dist/bench/ingest.js [--duration 10] [--only closed|paced]
 *     [--targets mosquitto,holdfast] [--fsync-delay-ms N] [--repeat N]
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { UNIT_ENV, addHist, gatewayNodeFlags, histQuantile, pinBrokerThread, threadTicks, cpuTicks } from './procs.js'

const HELP = `usage: node dist/bench/ingest.js [options]
  --duration S           measured seconds per run (default 10)
  --warmup S             unmeasured warm-up seconds per run (default 1)
  --only closed|paced    run a single scenario
  --targets LIST         comma list of mosquitto,holdfast (default both)
  --repeat N             runs per (target, scenario); ratios use medians (default 1)
  --fsync-delay-ms N     run holdfast under strace, delaying every fsync/fdatasync by N ms
  --closed-conns N       closed scenario connections (default 100)
  --closed-inflight W    closed scenario in-flight per connection (default 10)
  --paced-conns N        paced scenario connections (default 500)
  --paced-rate R         paced scenario total msg/s (default 20000)
  --generators N         rawpub processes sharing the connections (default 1); msg/s summed,
                         latency percentiles from their merged histograms, CPU per process
  --gen-cpu C            core(s) for rawpub, comma list used round-robin (default 0)
  --broker-cpu C         core for the broker (default 1)
  --no-pin               do not use taskset
  --pin-threads          only the gateway's broker thread on --broker-cpu, its other threads (commit
                         worker, libuv's pool) on every core: a box with a spare core (default: the
                         whole gateway on --broker-cpu)
  --threads-cpus C       with --pin-threads, the cores of the gateway's other threads (default: all)
  --mosquitto-bin PATH   (default /usr/sbin/mosquitto)
  --keep-tmp             keep broker data dirs and logs
  --protocol 4|5         MQTT 3.1.1 (4) or MQTT 5 (5) for rawpub (default 4)
  --node-flags="F ..."   flags for the gateway's node instead of the systemd unit's (ExecStart),
                         e.g. V8 heap sizes; none: node's defaults
`

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    only: { type: 'string' },
    targets: { type: 'string', default: 'mosquitto,holdfast' },
    repeat: { type: 'string', default: '1' },
    'fsync-delay-ms': { type: 'string', default: '0' },
    'closed-conns': { type: 'string', default: '100' },
    'closed-inflight': { type: 'string', default: '10' },
    'paced-conns': { type: 'string', default: '500' },
    'paced-rate': { type: 'string', default: '20000' },
    'gen-cpu': { type: 'string', default: '0' },
    generators: { type: 'string', default: '1' },
    'broker-cpu': { type: 'string', default: '1' },
    'no-pin': { type: 'boolean', default: false },
    'pin-threads': { type: 'boolean', default: false },
    'threads-cpus': { type: 'string' },
    'mosquitto-bin': { type: 'string', default: '/usr/sbin/mosquitto' },
    'keep-tmp': { type: 'boolean', default: false },
    protocol: { type: 'string', default: '4' },
    'node-flags': { type: 'string', default: '' },
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
    process.stderr.write(`ingest: --${name} must be a number in [${min}, ${max}], got ${v}\n`)
    process.exit(2)
  }
  return n
}

const DURATION = num('duration', opt.duration, 0.1, 3600)
const WARMUP = num('warmup', opt.warmup, 0, 600)
const REPEAT = Math.floor(num('repeat', opt.repeat, 1, 100))
const FSYNC_DELAY_MS = num('fsync-delay-ms', opt['fsync-delay-ms'], 0, 10_000)
const DRAIN_S = 5
const PROTOCOL = Math.floor(num('protocol', opt.protocol, 4, 5))
const CONNECT_TIMEOUT_S = 30

type ScenarioName = 'closed' | 'paced'
type TargetName = 'mosquitto' | 'holdfast'

interface Scenario {
  name: ScenarioName
  conns: number
  /** rawpub arguments other than --conns (and, paced, --rate: both are split over the generators) */
  args: string[]
  rate?: number
  shape: Record<string, number>
}

const closedConns = Math.floor(num('closed-conns', opt['closed-conns'], 1, 20000))
const closedInflight = Math.floor(num('closed-inflight', opt['closed-inflight'], 1, 65535))
const pacedConns = Math.floor(num('paced-conns', opt['paced-conns'], 1, 20000))
const pacedRate = num('paced-rate', opt['paced-rate'], 1, 10_000_000)

const ALL_SCENARIOS: Scenario[] = [
  {
    name: 'closed',
    conns: closedConns,
    args: ['--mode', 'closed', '--inflight', String(closedInflight)],
    shape: { conns: closedConns, inflight: closedInflight }
  },
  {
    name: 'paced',
    conns: pacedConns,
    rate: pacedRate,
    args: ['--mode', 'paced'],
    shape: { conns: pacedConns, targetRate: pacedRate }
  }
]

if (opt.only !== undefined && opt.only !== 'closed' && opt.only !== 'paced') {
  process.stderr.write('ingest: --only must be closed or paced\n')
  process.exit(2)
}
const scenarios = ALL_SCENARIOS.filter(s => opt.only === undefined || s.name === opt.only)

const targets = opt
  .targets!.split(',')
  .map(t => t.trim())
  .filter(t => t.length > 0)
for (const t of targets) {
  if (t !== 'mosquitto' && t !== 'holdfast') {
    process.stderr.write(`ingest: unknown target ${t}\n`)
    process.exit(2)
  }
}

const here = path.dirname(fileURLToPath(import.meta.url)) // dist/bench
const RAWPUB = path.join(here, 'rawpub.js')
const HOLDFAST_MAIN = path.resolve(here, '../src/cli/main.js')
// The systemd unit's node flags unless --node-flags says otherwise (`none`: node's defaults).
const NODE_FLAGS = gatewayNodeFlags(opt['node-flags'])
const MOSQUITTO = opt['mosquitto-bin']!

function log(msg: string): void {
  process.stderr.write(`[ingest] ${msg}\n`)
}

function out(obj: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const sleep = (ms: number): Promise<void> => new Promise(res => setTimeout(res, ms))

function which(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const PIN = !opt['no-pin'] && os.cpus().length >= 2 && which('taskset')
if (!opt['no-pin'] && !PIN) log('taskset unavailable or < 2 cores: running unpinned')
const GEN_CPUS = opt['gen-cpu']!.split(',').filter(c => c.length > 0)
const GENERATORS = Math.floor(num('generators', opt.generators, 1, 64))
const BROKER_CPU = opt['broker-cpu']!

const PIN_THREADS = PIN && opt['pin-threads'] === true
/** --pin-threads: the cores of the gateway's threads other than the broker's */
const THREADS_CPUS =
  opt['threads-cpus'] ??
  os
    .cpus()
    .map((_, i) => i)
    .join(',')

function pinned(cpu: string, argv: string[]): string[] {
  return PIN ? ['taskset', '-c', cpu, ...argv] : argv
}

let CLK_TCK = 100
try {
  CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100
} catch {
  /* default */
}

/** utime + stime of a process (all threads), in ms; null if unreadable. */
function cpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null
  try {
    return (cpuTicks(pid) * 1000) / CLK_TCK
  } catch {
    return null
  }
}

/**
 * Aggregate CPU from /proc/stat, in ms: busy (all non-idle time), interrupt time
 * (irq+softirq; loopback TCP delivery, mostly also charged to the sending
 * process's system time) and steal.
 */
function machineCpuMs(): { busy: number; irq: number; steal: number } | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!
    const f = line.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal guest guest_nice
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f
    return {
      busy: ((user + nice + system + irq + softirq) * 1000) / CLK_TCK,
      irq: ((irq + softirq) * 1000) / CLK_TCK,
      steal: (steal * 1000) / CLK_TCK
    }
  } catch {
    return null
  }
}

function childPids(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = net.connect({ host: '127.0.0.1', port })
    const done = (ok: boolean): void => {
      s.destroy()
      resolve(ok)
    }
    s.setTimeout(500, () => done(false))
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
  })
}

async function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string } | null> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    return { status: r.status, body: await r.text() }
  } catch {
    return null
  }
}

function tail(file: string, n = 1500): string {
  try {
    const s = fs.readFileSync(file, 'utf8')
    return s.slice(-n)
  } catch {
    return ''
  }
}

// ---------------------------------------------------------------- brokers

interface Broker {
  target: TargetName
  port: number
  httpPort?: number
  proc: ChildProcess
  /** pid of the broker process itself (not taskset/strace) for CPU accounting */
  pid: () => number | undefined
  logFile: string
  tmpDir: string
  exited: { code: number | null; signal: NodeJS.Signals | null } | null
  straceOut?: string
  info: Record<string, unknown>
  /** --pin-threads: stops moving the gateway's new threads off the broker thread's core */
  unpin?: () => void
}

const live = new Set<Broker>()

function spawnBroker(target: TargetName, argv: string[], tmpDir: string, logFile: string): Broker {
  const fd = fs.openSync(logFile, 'a')
  // The gateway with the systemd unit's environment (its Environment= lines), as shipped.
  const env = target === 'holdfast' ? { ...process.env, ...UNIT_ENV } : process.env
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd], cwd: tmpDir, env })
  fs.closeSync(fd)
  const b: Broker = {
    target,
    port: 0,
    proc,
    pid: () => proc.pid,
    logFile,
    tmpDir,
    exited: null,
    info: {}
  }
  proc.on('exit', (code, signal) => {
    b.exited = { code, signal }
  })
  live.add(b)
  return b
}

async function waitReady(b: Broker, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (b.exited) throw new Error(`${b.target} exited early (${JSON.stringify(b.exited)}): ${tail(b.logFile, 600)}`)
    if (await tryConnect(b.port)) return
    await sleep(50)
  }
  throw new Error(`${b.target} MQTT port ${b.port} not accepting after ${timeoutMs} ms: ${tail(b.logFile, 600)}`)
}

/** waitReady, but a broker that never came up is stopped and its tmp dir removed. */
async function waitReadyOrStop(b: Broker, timeoutMs: number): Promise<void> {
  try {
    await waitReady(b, timeoutMs)
  } catch (e) {
    await stopBroker(b).catch(() => undefined)
    throw e
  }
}

function mosquittoVersion(): string | null {
  const r = spawnSync(MOSQUITTO, ['-h'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 })
  const m = /mosquitto version (\S+)/.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`)
  return m ? m[1]! : null
}

async function startMosquitto(): Promise<Broker> {
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-mosquitto-'))
  const port = await freePort()
  const logFile = path.join(tmpDir, 'mosquitto.log')
  const conf = path.join(tmpDir, 'mosquitto.conf')
  fs.writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_inflight_messages 0',
      'max_queued_messages 1000000',
      'max_connections -1',
      'set_tcp_nodelay true',
      // stay root so the log file in our tmp dir stays writable
      'user root',
      `log_dest file ${logFile}`,
      'log_type error',
      'log_type warning',
      'connection_messages false',
      ''
    ].join('\n')
  )
  const b = spawnBroker(
    'mosquitto',
    pinned(BROKER_CPU, [MOSQUITTO, '-c', conf]),
    tmpDir,
    path.join(tmpDir, 'stdout.log')
  )
  b.port = port
  b.logFile = path.join(tmpDir, 'stdout.log')
  await waitReadyOrStop(b, 15_000)
  return b
}

let straceSeccomp: boolean | null = null
function straceArgs(delayMs: number, outFile: string): string[] {
  if (straceSeccomp === null) {
    try {
      execFileSync('/usr/bin/strace', ['-f', '--seccomp-bpf', '-e', 'trace=fsync', '-o', '/dev/null', 'true'], {
        stdio: 'ignore'
      })
      straceSeccomp = true
    } catch {
      straceSeccomp = false
      log('strace --seccomp-bpf unavailable: every syscall will stop under ptrace (slower)')
    }
  }
  return [
    '/usr/bin/strace',
    '-f',
    ...(straceSeccomp ? ['--seccomp-bpf'] : []), // only fsync/fdatasync stop the tracee
    '-e',
    'trace=fdatasync,fsync',
    '-e',
    `inject=fdatasync,fsync:delay_exit=${Math.round(delayMs * 1000)}us`,
    '-o',
    outFile,
    '--'
  ]
}

async function startHoldfast(): Promise<Broker> {
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-holdfast-'))
  const dataDir = path.join(tmpDir, 'data')
  fs.mkdirSync(dataDir)
  const port = await freePort()
  let httpPort = await freePort()
  while (httpPort === port) httpPort = await freePort()
  const nodeArgv = [
    process.execPath,
    ...NODE_FLAGS,
    HOLDFAST_MAIN,
    'run',
    '--mqtt-port',
    String(port),
    '--http-port',
    String(httpPort),
    '--data-dir',
    dataDir,
    '--gateway-id',
    'bench',
    '--allow-anonymous',
    '--status-public',
    // every bench connection comes from 127.0.0.1: lift the per-address connection-rate guard
    '--mqtt-conn-rate-per-address',
    '1000000',
    '--mqtt-conn-burst-per-address',
    '1000000'
  ]
  const straceOut = path.join(tmpDir, 'strace.out')
  const argv = FSYNC_DELAY_MS > 0 ? [...straceArgs(FSYNC_DELAY_MS, straceOut), ...nodeArgv] : nodeArgv
  const b = spawnBroker(
    'holdfast',
    PIN_THREADS ? argv : pinned(BROKER_CPU, argv),
    tmpDir,
    path.join(tmpDir, 'holdfast.log')
  )
  b.port = port
  b.httpPort = httpPort
  if (FSYNC_DELAY_MS > 0) {
    b.straceOut = straceOut
    // taskset exec()s strace, which forks node: account CPU to node itself.
    let nodePid: number | undefined
    b.pid = () => {
      if (nodePid === undefined && b.proc.pid !== undefined) nodePid = childPids(b.proc.pid)[0]
      return nodePid
    }
  }
  await waitReadyOrStop(b, 30_000)
  const gwPid = b.pid()
  if (PIN_THREADS && gwPid !== undefined) b.unpin = pinBrokerThread(gwPid, BROKER_CPU, THREADS_CPUS)
  // healthz is best effort: record it, do not require it.
  const deadline = Date.now() + 10_000
  let health: number | null = null
  while (Date.now() < deadline) {
    const r = await httpGet(`http://127.0.0.1:${httpPort}/healthz`, 1000)
    health = r ? r.status : null
    if (health === 200) break
    await sleep(100)
  }
  b.info.healthz = health
  if (health !== 200) log(`holdfast /healthz did not return 200 (got ${health}); continuing since MQTT is up`)
  return b
}

async function stopBroker(b: Broker): Promise<void> {
  b.unpin?.()
  const waitExit = async (ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms
    while (!b.exited && Date.now() < deadline) await sleep(20)
    return b.exited !== null
  }
  const inner = b.pid()
  if (!b.exited) {
    try {
      // Signal the broker itself (under strace, the traced node process).
      process.kill(inner ?? b.proc.pid!, 'SIGTERM')
    } catch {
      /* gone */
    }
    if (!(await waitExit(10_000))) {
      log(`${b.target} did not exit on SIGTERM within 10 s; SIGKILL`)
      for (const p of [inner, b.proc.pid]) {
        try {
          if (p !== undefined) process.kill(p, 'SIGKILL')
        } catch {
          /* gone */
        }
      }
      await waitExit(5_000)
    }
  }
  live.delete(b)
  if (b.straceOut !== undefined) {
    // completed fsync/fdatasync calls seen (and delayed) by strace
    const lines = tail(b.straceOut, 1 << 30).split('\n')
    b.info.fsyncCalls = lines
      .filter(l => /\b(fdatasync|fsync)\(/.test(l) || /<\.\.\. (fdatasync|fsync) resumed>/.test(l))
      .filter(l => !l.includes('<unfinished')).length
  }
  if (!opt['keep-tmp']) fs.rmSync(b.tmpDir, { recursive: true, force: true })
  else log(`kept ${b.tmpDir}`)
}

function killAllSync(): void {
  for (const b of live) {
    for (const p of [b.pid(), b.proc.pid]) {
      try {
        if (p !== undefined) process.kill(p, 'SIGKILL')
      } catch {
        /* gone */
      }
    }
  }
}
process.on('exit', killAllSync)
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAllSync()
    process.exit(130)
  })
}

// ---------------------------------------------------------------- where the backlog sits

/**
 * Bytes waiting in TCP receive queues on each side of the broker port, sampled
 * with `ss`. In a closed loop the in-flight messages pile up in front of the
 * slower side: PUBLISHes in the broker's queues mean the broker is the limit,
 * PUBACKs in rawpub's queues mean the generator is.
 */
function sampleRecvQ(port: number): { broker: number; gen: number } | null {
  const r = spawnSync('ss', ['-tnH', 'state', 'established', `( sport = :${port} or dport = :${port} )`], {
    encoding: 'utf8',
    timeout: 2000
  })
  if (r.status !== 0 || typeof r.stdout !== 'string') return null
  let broker = 0
  let gen = 0
  for (const line of r.stdout.split('\n')) {
    // Recv-Q Send-Q Local:Port Peer:Port
    const f = line.trim().split(/\s+/)
    if (f.length < 4) continue
    if (f[2]!.endsWith(`:${port}`)) broker += Number(f[0])
    else gen += Number(f[0])
  }
  return { broker, gen }
}

let haveSs: boolean | null = null

function startQueueSampler(port: number): () => Record<string, unknown> {
  if (haveSs === null) haveSs = which('ss')
  if (!haveSs) return () => ({})
  const broker: number[] = []
  const gen: number[] = []
  const windowStart = Date.now() + (WARMUP + 0.5) * 1000
  const windowEnd = windowStart + Math.max(0, DURATION - 1) * 1000
  const timer = setInterval(() => {
    const now = Date.now()
    if (now < windowStart || now > windowEnd) return
    const s = sampleRecvQ(port)
    if (s) {
      broker.push(s.broker)
      gen.push(s.gen)
    }
  }, 1000)
  return () => {
    clearInterval(timer)
    if (broker.length === 0) return {}
    const b = median(broker)!
    const g = median(gen)!
    // under ~8 KB (about 70 messages) in both: nothing is saturated
    const limit = Math.max(b, g) < 8192 ? 'none' : b >= 2 * g ? 'broker' : g >= 2 * b ? 'generator' : 'unclear'
    return { brokerRecvQBytes: b, genRecvQBytes: g, limitedBy: limit }
  }
}

// ---------------------------------------------------------------- rawpub

function runRawpub(
  port: number,
  sc: Scenario,
  cpu: string,
  conns: number,
  offset: number,
  rate: number | undefined
): Promise<Record<string, unknown>> {
  const argv = pinned(cpu, [
    process.execPath,
    RAWPUB,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    ...sc.args,
    '--conns',
    String(conns),
    '--index-offset',
    String(offset),
    ...(rate === undefined ? [] : ['--rate', String(rate)]),
    '--hist',
    '--protocol',
    String(PROTOCOL),
    '--duration',
    String(DURATION),
    '--warmup',
    String(WARMUP),
    '--drain',
    String(DRAIN_S),
    '--connect-timeout',
    String(CONNECT_TIMEOUT_S)
  ])
  return new Promise(resolve => {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    const limitMs = (CONNECT_TIMEOUT_S + WARMUP + DURATION + DRAIN_S + 30) * 1000
    const timer = setTimeout(() => {
      log(`rawpub exceeded ${limitMs} ms; killing pid ${p.pid}`)
      p.kill('SIGKILL')
    }, limitMs)
    p.on('close', code => {
      clearTimeout(timer)
      const line = stdout.trim().split('\n').pop() ?? ''
      try {
        const r = JSON.parse(line) as Record<string, unknown>
        if (code !== 0 && r.ok !== false) r.ok = false
        resolve(r)
      } catch {
        resolve({ ok: false, error: `rawpub exited ${code} without a result line` })
      }
    })
  })
}

/** Merged latency percentiles of rawpub's histograms (procs.ts addHist and histQuantile). */
function histQuantiles(hists: Record<string, number>[]): Record<string, number | null> {
  const sum = new Map<number, number>()
  for (const h of hists) addHist(sum, h)
  return {
    p50Ms: histQuantile(sum, 0.5),
    p90Ms: histQuantile(sum, 0.9),
    p99Ms: histQuantile(sum, 0.99),
    p999Ms: histQuantile(sum, 0.999)
  }
}

/**
 * GENERATORS rawpub processes at once, connections (and the paced rate) split between them, pinned
 * round-robin to the --gen-cpu cores. One process: its own line. Several: counts summed, percentiles from
 * the merged histograms (2 % buckets), max of the maxima, and each process's CPU so a reader sees whether
 * the generators were saturated.
 */
async function runGenerators(port: number, sc: Scenario): Promise<Record<string, unknown>> {
  const n = Math.min(GENERATORS, sc.conns)
  const runs: Promise<Record<string, unknown>>[] = []
  for (let g = 0, offset = 0; g < n; g++) {
    const conns = Math.floor(sc.conns / n) + (g < sc.conns % n ? 1 : 0)
    const rate = sc.rate === undefined ? undefined : (sc.rate * conns) / sc.conns
    runs.push(runRawpub(port, sc, GEN_CPUS[g % GEN_CPUS.length]!, conns, offset, rate))
    offset += conns
  }
  const rs = await Promise.all(runs)
  const perGen = rs.map(r => ({
    conns: r.conns,
    msgsPerS: r.msgsPerS,
    p99Ms: r.p99Ms,
    genCpuPct: r.genCpuPct,
    ...(typeof r.error === 'string' ? { error: r.error } : {})
  }))
  const hists = rs.map(r => r.hist as Record<string, number> | undefined)
  if (n === 1) {
    const { hist: _h, ...r } = rs[0]!
    return { ...r, generators: 1, genCpuPctPerProcess: [r.genCpuPct], genCores: GEN_CPUS.length }
  }
  const sum = (k: string): number => rs.reduce((a, r) => a + (typeof r[k] === 'number' ? (r[k] as number) : 0), 0)
  const error = rs.find(r => typeof r.error === 'string')?.error
  const maxes = rs.map(r => r.maxMs).filter((x): x is number => typeof x === 'number')
  const keys = ['msgsPerS', 'sentPerS', 'samples', 'unacked', 'totalSent', 'totalAcked', 'windowFull', 'ticksLate']
  return {
    ...Object.fromEntries(keys.filter(k => rs.some(r => k in r)).map(k => [k, sum(k)])),
    ...(hists.every(h => h !== undefined) ? histQuantiles(hists as Record<string, number>[]) : {}),
    maxMs: maxes.length ? Math.max(...maxes) : null,
    conns: sc.conns,
    durationS: rs[0]!.durationS,
    warmupS: rs[0]!.warmupS,
    ok: rs.every(r => r.ok === true),
    ...(error === undefined ? {} : { error }),
    generators: n,
    genCores: GEN_CPUS.length,
    genCpuPctPerProcess: rs.map(r => r.genCpuPct),
    genCpuPct: Math.round(sum('genCpuPct') * 10) / 10,
    genCpuTotalMs: sum('genCpuTotalMs'),
    perGenerator: perGen
  }
}

// ---------------------------------------------------------------- main

interface Row {
  scenario: ScenarioName
  target: TargetName
  msgsPerS: number
  p50Ms: number | null
  p99Ms: number | null
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** Resident memory of a process now and at its peak (VmRSS, VmHWM), in MB; null when it is gone. */
function memoryMb(pid: number | undefined): { rssMb: number; peakRssMb: number } | null {
  if (pid === undefined) return null
  try {
    const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(st)?.[1] ?? Number.NaN)
    return { rssMb: Math.round(kb('VmRSS') / 102.4) / 10, peakRssMb: Math.round(kb('VmHWM') / 102.4) / 10 }
  } catch {
    return null
  }
}

/** The broker thread's event-loop delay since the gateway started (its /metrics), in ms by quantile. */
async function loopDelayMs(httpPort: number): Promise<Record<string, number> | null> {
  const m = await httpGet(`http://127.0.0.1:${httpPort}/metrics`, 3000)
  if (m === null || m.status !== 200) return null
  const out: Record<string, number> = {}
  for (const x of m.body.matchAll(/^holdfast_event_loop_delay_seconds\{quantile="([\d.]+)"\} (\S+)$/gm)) {
    const name = x[1] === '1' ? 'max' : `p${Number(x[1]) * 100}`
    out[name] = Math.round(Number(x[2]) * 1e5) / 100
  }
  return out
}

async function runOne(target: TargetName, sc: Scenario, run: number): Promise<Row | null> {
  const head: Record<string, unknown> = { scenario: sc.name, target, protocol: PROTOCOL === 5 ? '5' : '3.1.1' }
  if (REPEAT > 1) head.run = run
  let b: Broker | null = null
  try {
    log(`${target} / ${sc.name}${REPEAT > 1 ? ` run ${run}` : ''}: starting broker`)
    b = target === 'mosquitto' ? await startMosquitto() : await startHoldfast()
    log(
      `${target} listening on 127.0.0.1:${b.port}${b.httpPort ? ` (http ${b.httpPort})` : ''}; running ${GENERATORS} x rawpub ${sc.args.join(' ')} (${sc.conns} conns)`
    )
    const c0 = cpuMs(b.pid())
    const pid0 = b.pid()
    const mainTicks0 = target === 'holdfast' && pid0 !== undefined ? threadTicks(pid0, pid0) : null
    const m0 = machineCpuMs()
    const t0 = Date.now()
    // rawpub needs a moment to start and connect; the sampler's window is approximate
    const stopSampler = startQueueSampler(b.port)
    const r = await runGenerators(b.port, sc)
    const wallMs = Date.now() - t0
    const queues = stopSampler()
    const c1 = cpuMs(b.pid())
    const m1 = machineCpuMs()
    const pct = (ms: number): number => Math.round((ms / wallMs) * 1000) / 10
    const brokerMs = c0 !== null && c1 !== null ? c1 - c0 : null
    const extra: Record<string, unknown> = {
      // CPU over the whole rawpub process lifetime (connect + warmup + window + drain), % of one core
      brokerCpuPct: brokerMs === null ? null : pct(brokerMs)
    }
    if (mainTicks0 !== null && pid0 !== undefined) {
      // The gateway's broker (main) thread alone; brokerCpuPct counts all of its threads.
      extra.brokerThreadCpuPct = pct(((threadTicks(pid0, pid0) - mainTicks0) * 1000) / CLK_TCK)
      extra.pin = PIN_THREADS
        ? `broker thread on ${BROKER_CPU}, other threads on ${THREADS_CPUS}`
        : `process on ${BROKER_CPU}`
    }
    Object.assign(extra, queues)
    // The generators' cores are saturated: the figure may understate the broker (more cores, not processes, help).
    const genCpu = typeof r.genCpuPct === 'number' ? r.genCpuPct : null
    extra.generatorSaturated = genCpu === null ? null : genCpu >= 90 * new Set(GEN_CPUS).size
    if (queues.limitedBy === 'generator')
      log('warning: PUBACKs queue up at rawpub: the generator, not the broker, is the limit')
    if (m0 && m1 && brokerMs !== null && typeof r.genCpuTotalMs === 'number') {
      // CPU burnt by anything else on the machine during the run: a noisy
      // neighbour (builds, tests, other services) makes the figures unreliable.
      extra.otherCpuPct = Math.max(0, pct(m1.busy - m0.busy - brokerMs - r.genCpuTotalMs))
      extra.irqCpuPct = pct(m1.irq - m0.irq)
      extra.stealPct = pct(m1.steal - m0.steal)
      if ((extra.otherCpuPct as number) > 15)
        log(`warning: ${extra.otherCpuPct}% of a core used by other processes during this run`)
    }
    if (b.exited) extra.brokerExited = b.exited
    Object.assign(extra, memoryMb(b.pid()) ?? {})
    if (target === 'mosquitto') extra.version = mosquittoVersion()
    if (target === 'holdfast') {
      extra.fsyncDelayMs = FSYNC_DELAY_MS
      extra.nodeFlags = NODE_FLAGS.join(' ')
      extra.healthz = b.info.healthz
      // Since start, so it includes start-up and the warm-up (a fresh gateway per run).
      extra.eventLoopDelayMs = await loopDelayMs(b.httpPort!)
      const s = await httpGet(`http://127.0.0.1:${b.httpPort}/api/status`, 3000)
      let stored: number | null = null
      if (s && s.status === 200) {
        try {
          const j = JSON.parse(s.body) as { counters?: { stored?: unknown; duplicates?: unknown; dropped?: unknown } }
          if (typeof j.counters?.stored === 'number') stored = j.counters.stored
          if (j.counters?.duplicates !== undefined) extra.duplicates = j.counters.duplicates
          if (j.counters?.dropped !== undefined) extra.dropped = j.counters.dropped
        } catch {
          /* not JSON */
        }
      }
      extra.stored = stored
      // every PUBACKed message must be in the store
      extra.consistent = stored !== null && typeof r.totalAcked === 'number' ? stored >= r.totalAcked : false
      if (stored === null) extra.statusError = s ? `GET /api/status -> ${s.status}` : 'GET /api/status failed'
    }
    await stopBroker(b)
    if (b.info.fsyncCalls !== undefined) extra.fsyncCalls = b.info.fsyncCalls
    const { tool: _t, host: _h, port: _p, mode: _m, ...rest } = r
    const line = {
      ...head,
      msgsPerS: r.msgsPerS,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      ...rest,
      ...extra
    }
    out(line)
    // fatal rawpub errors are left out of the ratios; ok:false for unacked leftovers is not fatal
    if (typeof r.error === 'string' || typeof r.msgsPerS !== 'number') return null
    return {
      scenario: sc.name,
      target,
      msgsPerS: r.msgsPerS,
      p50Ms: r.p50Ms as number | null,
      p99Ms: r.p99Ms as number | null
    }
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e)
    log(`${target} / ${sc.name} failed: ${msg}`)
    out({ ...head, ok: false, error: msg })
    if (b) await stopBroker(b).catch(() => undefined)
    return null
  }
}

async function main(): Promise<void> {
  if (!fs.existsSync(RAWPUB)) {
    out({ ok: false, error: `${RAWPUB} missing: compile with npx tsc -p tsconfig.json` })
    process.exit(1)
  }
  const rows: Row[] = []
  for (const target of targets as TargetName[]) {
    if (target === 'mosquitto' && !fs.existsSync(MOSQUITTO)) {
      out({ target: 'mosquitto', skipped: 'not installed' })
      continue
    }
    if (target === 'holdfast' && !fs.existsSync(HOLDFAST_MAIN)) {
      out({ target: 'holdfast', skipped: `${path.relative(process.cwd(), HOLDFAST_MAIN)} not built` })
      continue
    }
    if (target === 'holdfast' && FSYNC_DELAY_MS > 0 && !fs.existsSync('/usr/bin/strace')) {
      out({ target: 'holdfast', skipped: 'fsync delay needs /usr/bin/strace' })
      continue
    }
    for (const sc of scenarios) {
      for (let run = 1; run <= REPEAT; run++) {
        const row = await runOne(target, sc, run)
        if (row) rows.push(row)
      }
    }
  }
  for (const sc of scenarios) {
    const pick = (t: TargetName, k: 'msgsPerS' | 'p50Ms' | 'p99Ms'): number | null =>
      median(rows.filter(r => r.scenario === sc.name && r.target === t && r[k] !== null).map(r => r[k] as number))
    const agg = (t: TargetName): { msgsPerS: number | null; p50Ms: number | null; p99Ms: number | null } => ({
      msgsPerS: pick(t, 'msgsPerS'),
      p50Ms: pick(t, 'p50Ms'),
      p99Ms: pick(t, 'p99Ms')
    })
    const h = agg('holdfast')
    const m = agg('mosquitto')
    if (h.msgsPerS === null || m.msgsPerS === null) continue
    const ratio = (a: number | null, b: number | null): number | null =>
      a === null || b === null || b === 0 ? null : Math.round((a / b) * 1000) / 1000
    out({
      scenario: sc.name,
      ratio: 'holdfast/mosquitto',
      msgsPerS: ratio(h.msgsPerS, m.msgsPerS),
      p50Ms: ratio(h.p50Ms, m.p50Ms),
      p99Ms: ratio(h.p99Ms, m.p99Ms),
      ...(REPEAT > 1 ? { runs: REPEAT, of: 'medians' } : {}),
      ...(FSYNC_DELAY_MS > 0 ? { fsyncDelayMs: FSYNC_DELAY_MS } : {}),
      holdfast: h,
      mosquitto: m
    })
  }
}

main().catch((e: unknown) => {
  out({ ok: false, error: e instanceof Error ? e.message : String(e) })
  process.exitCode = 1
})
