/**
 * What the long-running benchmarks (backlog.ts, live-drain.ts, memory.ts) share: starting a gateway or
 * Mosquitto on a core, streaming rawpub's JSON lines, and reading a process's memory, CPU and the
 * gateway's own figures (/metrics, /api/status).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { connect } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../test/harness/ports.js'
import { CLI } from '../test/harness/gateway.js'
import { secretOf } from '../test/harness/devices.js'
import mqtt from 'mqtt'

export const RAWPUB = resolve(fileURLToPath(import.meta.url), '../rawpub.js')
export const MOSQUITTO = '/usr/sbin/mosquitto'

export const emit = (line: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify(line) + '\n')
}
export const sleep = async (ms: number): Promise<void> => await new Promise(res => setTimeout(res, ms))
const r1 = (x: number): number => Math.round(x * 10) / 10

/** The systemd unit the gateway is shipped with: the benchmarks run it with the unit's flags and environment. */
const UNIT = readFileSync(fileURLToPath(new URL('../../systemd/holdfast.service', import.meta.url)), 'utf8')

/**
 * The node flags the systemd unit starts the gateway with (its ExecStart, between node and the script;
 * the Dockerfile's ENTRYPOINT passes the same), so that a benchmark measures the gateway as shipped.
 */
export const UNIT_NODE_FLAGS: readonly string[] = (() => {
  const exec = /^ExecStart=\S*node((?: --\S+)*) /m.exec(UNIT)
  if (exec === null) throw new Error('systemd/holdfast.service: no ExecStart=…node … line')
  return exec[1]!.split(' ').filter(Boolean)
})()

/** The unit's Environment= variables (UV_THREADPOOL_SIZE, GLIBC_TUNABLES): the gateway runs with them. */
export const UNIT_ENV: Readonly<Record<string, string>> = Object.fromEntries(
  [...UNIT.matchAll(/^Environment=(\w+)=(\S*)$/gm)].map(m => [m[1]!, m[2]!])
)

/**
 * A benchmark's --node-flags: empty (the default) means the unit's flags, `none` node's own defaults,
 * anything else those flags instead of the unit's.
 */
export function gatewayNodeFlags(arg: string | undefined): string[] {
  if (arg === undefined || arg.trim() === '') return [...UNIT_NODE_FLAGS]
  return arg.trim() === 'none' ? [] : arg.split(' ').filter(Boolean)
}

/**
 * taskset -c <cpu> when there are 2+ cores (broker on one, generator on the other), else as is.
 * `cpu`: one core, a taskset list such as '0,1', or null: not pinned (the scheduler's choice).
 */
export function pinned(cpu: number | string | null, argv: string[]): string[] {
  return cpu !== null && cpus().length >= 2 && existsSync('/usr/bin/taskset')
    ? ['/usr/bin/taskset', '-c', String(cpu), ...argv]
    : argv
}

export interface Broker {
  child: ChildProcess
  pid: number
  mqttPort: number
  http?: string
  stop: () => Promise<void>
}

async function waitPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000
  for (;;) {
    const ok = await new Promise<boolean>(res => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy()
        res(true)
      })
      s.on('error', () => res(false))
    })
    if (ok) return
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`broker on port ${port} did not start`)
    await sleep(20)
  }
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const gone = new Promise(res => child.once('exit', res))
    child.kill('SIGTERM')
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000)
    await gone
    clearTimeout(t)
  }
}

/**
 * A gateway pinned to `cpu` (taskset exec()s node, so the pid is the gateway's), anonymous, loopback, its
 * connection-rate guard lifted (every bench connection comes from 127.0.0.1). `extra` adds flags, e.g.
 * --kafka-brokers; without them the gateway has no uplink and buffers.
 */
export async function startGateway(opts: {
  cpu: number | string | null
  dataDir?: string
  extra?: string[]
  /** node's flags for the gateway; default the systemd unit's (UNIT_NODE_FLAGS). */
  nodeFlags?: string[]
  /** working directory (where --heapsnapshot-signal writes its snapshots) */
  cwd?: string
  /** A config file (--config), e.g. devices with credentials and quotas. */
  config?: string
  /** Let clients in without credentials (default true; false: only the config's devices). */
  anonymous?: boolean
  /** Another build's CLI (e.g. a base commit's, to compare); default this one's. */
  cli?: string
}): Promise<Broker & { http: string; dataDir: string }> {
  const mqttPort = await freePort()
  const httpPort = await freePort()
  const own = opts.dataDir === undefined ? mkdtempSync(join(tmpdir(), 'hf-bench-')) : null
  const dataDir = opts.dataDir ?? join(own!, 'data')
  const argv = [
    process.execPath,
    ...(opts.nodeFlags ?? UNIT_NODE_FLAGS),
    opts.cli ?? CLI,
    'run',
    ...(opts.config === undefined ? [] : ['--config', opts.config]),
    '--mqtt-host',
    '127.0.0.1',
    '--http-host',
    '127.0.0.1',
    '--mqtt-port',
    String(mqttPort),
    '--http-port',
    String(httpPort),
    '--data-dir',
    dataDir,
    '--gateway-id',
    'bench',
    ...(opts.anonymous === false ? [] : ['--allow-anonymous']),
    '--status-public',
    '--log-level',
    'warn',
    '--mqtt-conn-rate-per-address',
    '1000000',
    '--mqtt-conn-burst-per-address',
    '1000000',
    ...(opts.extra ?? [])
  ]
  const p = pinned(opts.cpu, argv)
  const child = spawn(p[0]!, p.slice(1), {
    stdio: ['ignore', 'ignore', 'inherit'],
    cwd: opts.cwd,
    env: { ...process.env, ...UNIT_ENV }
  })
  await waitPort(mqttPort, child)
  const stop = stopper(child)
  return {
    child,
    pid: child.pid!,
    mqttPort,
    http: `http://127.0.0.1:${httpPort}`,
    dataDir,
    // a buffer made here (a 10-minute backlog is ~1 GB) goes with its gateway
    stop: async () => {
      await stop()
      if (own !== null) rmSync(own, { recursive: true, force: true })
    }
  }
}

/** Mosquitto without persistence, as bench/ingest.ts runs it. */
export async function startMosquitto(cpu: number): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-mosquitto-'))
  const mqttPort = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(
    conf,
    [
      `listener ${mqttPort} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'max_inflight_messages 0',
      'max_queued_messages 1000000',
      'set_tcp_nodelay true',
      'user root',
      'log_dest none',
      ''
    ].join('\n')
  )
  const p = pinned(cpu, [MOSQUITTO, '-c', conf])
  const child = spawn(p[0]!, p.slice(1), { stdio: ['ignore', 'ignore', 'inherit'] })
  await waitPort(mqttPort, child)
  return { child, pid: child.pid!, mqttPort, stop: stopper(child) }
}

export interface Rawpub {
  child: ChildProcess
  /** rawpub's final result line */
  result: Promise<Record<string, unknown>>
}

/** rawpub pinned to `cpu`; each interval line (see --interval) goes to onInterval as it arrives. */
/** rawpub's arguments for a paced load: `conns` connections publishing `rate` QoS 1 msg/s in all. */
export function pacedArgs(o: {
  port: number
  conns: number | string
  rate: number | string
  warmupS: number | string
  seconds: number
  /** Print a histogram line every this many seconds. */
  intervalS?: number
  connectTimeoutS?: number
}): string[] {
  return [
    '--port',
    String(o.port),
    '--mode',
    'paced',
    '--conns',
    String(o.conns),
    '--rate',
    String(o.rate),
    '--warmup',
    String(o.warmupS),
    '--duration',
    String(o.seconds),
    ...(o.intervalS === undefined ? [] : ['--interval', String(o.intervalS)]),
    ...(o.connectTimeoutS === undefined ? [] : ['--connect-timeout', String(o.connectTimeoutS)])
  ]
}

export function startRawpub(
  cpu: number | null,
  args: string[],
  onInterval: (line: Record<string, unknown>) => void = () => {}
): Rawpub {
  const p = pinned(cpu, [process.execPath, RAWPUB, '--quiet', '--hist', ...args])
  const child = spawn(p[0]!, p.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] })
  let buf = ''
  let last: Record<string, unknown> = {}
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString()
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      try {
        const j = JSON.parse(line) as Record<string, unknown>
        if (typeof j.interval === 'number') onInterval(j)
        else last = j
      } catch {
        /* not a JSON line */
      }
    }
  })
  const result = new Promise<Record<string, unknown>>(res => child.once('close', () => res(last)))
  return { child, result }
}

/** Sum of rawpub histograms (sparse {bucket: count}). */
export function addHist(into: Map<number, number>, h: unknown): void {
  for (const [b, c] of Object.entries((h ?? {}) as Record<string, number>))
    into.set(Number(b), (into.get(Number(b)) ?? 0) + c)
}

/** Percentile (ms) of a summed rawpub histogram: bucket b's upper bound, 0.01 * 1.02^b ms. */
export function histQuantile(h: Map<number, number>, p: number): number | null {
  const sorted = [...h.entries()].sort((a, b) => a[0] - b[0])
  const n = sorted.reduce((a, [, c]) => a + c, 0)
  if (n === 0) return null
  let seen = 0
  for (const [b, c] of sorted) {
    seen += c
    if (seen >= Math.ceil(p * n)) return Math.round(0.01 * 1.02 ** b * 1000) / 1000
  }
  return null
}

/** Resident memory in MB: total now and at its peak (VmHWM), anonymous (heaps, buffers) and file-backed (code, mapped files), and threads. */
export function memory(pid: number): {
  rssMb: number
  peakRssMb: number
  anonMb: number
  fileMb: number
  threads: number
} {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1] ?? Number.NaN)
  return {
    rssMb: r1(kb('VmRSS') / 1024),
    peakRssMb: r1(kb('VmHWM') / 1024),
    anonMb: r1(kb('RssAnon') / 1024),
    fileMb: r1((kb('RssFile') + kb('RssShmem')) / 1024),
    threads: kb('Threads')
  }
}

/** utime + stime from a /proc stat file (a process's or one thread's), in clock ticks. */
function statTicks(file: string): number {
  const s = readFileSync(file, 'utf8')
  // After the last ')' (a name may hold one): f[0] is field 3 (state), utime field 14, stime field 15.
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12])
}

/** utime + stime of a process, in clock ticks (100 per second on Linux). */
export function cpuTicks(pid: number): number {
  return statTicks(`/proc/${pid}/stat`)
}

/** utime + stime of one thread of a process, in clock ticks; 0 when it is gone. */
export function threadTicks(pid: number, tid: number): number {
  try {
    return statTicks(`/proc/${pid}/task/${tid}/stat`)
  } catch {
    return 0
  }
}

/**
 * A box with a spare core: the gateway's broker thread (its main thread) alone on `cpu`, its other
 * threads (the commit worker, the read workers, libuv's pool) on `others`, where the kernel places them.
 * taskset per thread; a thread started later inherits the broker thread's core and is moved within
 * `everyMs`. Mosquitto's single thread on `cpu` is the same arrangement.
 */
export function pinBrokerThread(pid: number, cpu: string, others: string, everyMs = 100): () => void {
  const seen = new Set<number>()
  const tick = (): void => {
    let tids: number[]
    try {
      tids = readdirSync(`/proc/${pid}/task`).map(Number)
    } catch {
      return
    }
    for (const tid of tids) {
      if (seen.has(tid)) continue
      seen.add(tid)
      execFile('taskset', ['-p', '-c', tid === pid ? cpu : others, String(tid)], () => {})
    }
  }
  tick()
  const timer = setInterval(tick, everyMs)
  timer.unref()
  return () => clearInterval(timer)
}

/** The gateway's broker-thread event-loop delay since it started (/metrics), in ms. */
export async function loopDelay(http: string): Promise<{ p50: number; p99: number; max: number } | null> {
  try {
    const m = await (await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(3000) })).text()
    const q = (x: string): number => {
      const v = new RegExp(`^holdfast_event_loop_delay_seconds\\{quantile="${x}"\\} (\\S+)$`, 'm').exec(m)?.[1]
      return v === undefined ? Number.NaN : Math.round(Number(v) * 1e5) / 100
    }
    return { p50: q('0.5'), p99: q('0.99'), max: q('1') }
  } catch {
    return null
  }
}

/** The commit worker's WAL fdatasyncs so far (/metrics): count, seconds in all, and the longest, in ms. */
export async function walSyncs(http: string): Promise<{ count: number; seconds: number; maxMs: number } | null> {
  try {
    const m = await (await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(3000) })).text()
    const v = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(m)?.[1] ?? Number.NaN)
    return {
      count: v('holdfast_buffer_wal_syncs_total'),
      seconds: v('holdfast_buffer_wal_sync_seconds_total'),
      maxMs: Math.round(v('holdfast_buffer_wal_sync_max_seconds') * 1e5) / 100
    }
  } catch {
    return null
  }
}

/** Mean ms of the WAL syncs between two walSyncs() readings. */
export function walSyncMeanMs(
  a: { count: number; seconds: number } | null,
  b: { count: number; seconds: number } | null
): number | null {
  if (a === null || b === null || b.count <= a.count) return null
  return Math.round(((b.seconds - a.seconds) / (b.count - a.count)) * 1e5) / 100
}

export async function status(http: string): Promise<any> {
  return await (await fetch(`${http}/api/status`, { signal: AbortSignal.timeout(5000) })).json()
}

/** Least-squares slope of y over x. */
export function slope(xs: number[], ys: number[]): number | null {
  const n = xs.length
  if (n < 2) return null
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my)
    den += (xs[i]! - mx) ** 2
  }
  return den === 0 ? null : num / den
}

/** A device's MQTT connection as the benchmarks' simulated devices make it (no reconnects). */
export async function connectDevice(url: string, id: string): Promise<mqtt.MqttClient> {
  return await mqtt.connectAsync(url, {
    clientId: id,
    username: id,
    password: secretOf(id),
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    keepalive: 60
  })
}

/** Run this benchmark's script again as a child with `args` (a role of it); resolves its last JSON line. */
export function runRole<T>(args: string[]): Promise<T> {
  const child = spawn(process.execPath, [process.argv[1]!, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout!.on('data', d => {
    out += d
  })
  return new Promise((resolve, reject) =>
    child.once('exit', code => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as T)
      } catch {
        reject(new Error(`${args.join(' ')} exited ${code}: ${out}`))
      }
    })
  )
}
