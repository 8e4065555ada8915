/**
 * Real Apache Kafka test broker, no Docker.
 *
 * Runs the official broker jars from Maven Central (fetched into
 * .cache/kafka/<KAFKA_VERSION>/lib by scripts/fetch-kafka.sh) as a single
 * combined broker+controller KRaft node on 127.0.0.1, with:
 *   - a PLAINTEXT listener            -> `brokers`
 *   - a SASL_PLAINTEXT listener with SCRAM-SHA-256 and SCRAM-SHA-512
 *                                     -> `saslBrokers`, credentials in `scram`
 *   - a CONTROLLER listener (internal; never point kafkajs at it)
 *
 * The broker can be stopped (SIGTERM), killed (SIGKILL) and started again on
 * the same ports and data dir, so tests can simulate an outage and recovery.
 *
 * See scripts/kafka/README.md for the version choice and timings.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs'
import { pickPorts } from './ports.js'

/**
 * Apache Kafka version the tests run against. Keep in sync with the default in
 * scripts/fetch-kafka.sh and <kafka.version> in scripts/kafka/pom.xml.
 * HOLDFAST_KAFKA_VERSION overrides it (4.x only: the pom's logging binding is
 * log4j2, which is what Kafka 4.x uses).
 */
export const DEFAULT_KAFKA_VERSION = '4.4.0'
export const KAFKA_VERSION: string = process.env.HOLDFAST_KAFKA_VERSION || DEFAULT_KAFKA_VERSION
/** The broker's log directory under its data directory: one folder per partition, `<topic>-<partition>`. */
export const KAFKA_LOG_DIR = 'kraft-logs'

export interface ScramCredentials {
  user: string
  password: string
}

export interface StartKafkaOptions {
  /** Directory for server.properties, the log file and the Kafka log dirs.
   *  Default: a fresh temp dir, removed by dispose(). A caller-supplied dir is
   *  never removed. */
  dataDir?: string
  /** SCRAM user created (for both SHA-256 and SHA-512) at format time. */
  scram?: ScramCredentials
  /** Readiness timeout for every start (ms). Default 90 000. */
  startTimeoutMs?: number
  /** How long stop() waits after SIGTERM before falling back to SIGKILL (ms). Default 60 000. */
  stopTimeoutMs?: number
  /** Max heap of the broker JVM. Default '512m'. */
  heap?: string
  /**
   * Run the JVM at this nice value (benchmarks: on a real box the Kafka cluster is elsewhere, so its CPU
   * must not be taken from the gateway or the load generator measuring it). Default: the caller's.
   */
  nice?: number
  /** Extra server.properties entries (override the defaults). */
  serverProperties?: Record<string, string | number | boolean>
  /**
   * TLS listeners as well: SSL (`sslBrokers`) and SASL_SSL with SASL/PLAIN (`saslSslBrokers`).
   * `keystore` is a PEM file holding the broker's private key (PKCS#8, unencrypted) and its
   * certificate chain (Kafka's `ssl.keystore.type=PEM`); `plainUsers` are the PLAIN accounts.
   */
  tls?: { keystore: string; plainUsers: Record<string, string> }
}

export interface KafkaBroker {
  /** PLAINTEXT bootstrap addresses, e.g. ['127.0.0.1:23456']. */
  brokers: string[]
  /** SASL_PLAINTEXT (SCRAM-SHA-256/512) bootstrap addresses. */
  saslBrokers: string[]
  /** SSL bootstrap addresses (with the `tls` option; else empty). */
  sslBrokers: string[]
  /** SASL_SSL (PLAIN) bootstrap addresses (with the `tls` option; else empty). */
  saslSslBrokers: string[]
  port: number
  saslPort: number
  controllerPort: number
  /** The SCRAM user created at format time. */
  scram: ScramCredentials
  clusterId: string
  dataDir: string
  /** Broker stdout/stderr + log4j output. */
  logFile: string
  version: string
  /** True while the broker JVM is running. */
  readonly running: boolean
  /** SIGTERM and wait for the JVM to exit (SIGKILL after stopTimeoutMs). */
  stop(): Promise<void>
  /** SIGKILL and wait for the JVM to exit (a crash, no clean shutdown). */
  kill(): Promise<void>
  /** Start again on the same ports and data dir; resolves when ready. No-op if running. */
  start(): Promise<void>
  /** stop() then start(). */
  restart(): Promise<void>
  /** Stop the broker (SIGKILL when its data is thrown away) and remove the data dir if the harness created it
   *  (kept when HOLDFAST_KEEP_KAFKA_DATA=1). */
  dispose(): Promise<void>
  /** A kafkajs client for the PLAINTEXT listener, logs silenced. */
  client(extra?: Partial<KafkaConfig>): Kafka
  /** Last `lines` lines of the broker log. */
  logTail(lines?: number): string
}

const DEFAULT_SCRAM: ScramCredentials = { user: 'holdfast', password: 'holdfast-test-secret' }

// ---------------------------------------------------------------------------
// paths and fetching

function findRepoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (fs.existsSync(path.join(dir, 'scripts', 'fetch-kafka.sh')) && fs.existsSync(path.join(dir, 'package.json'))) {
      return dir
    }
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error('kafka harness: cannot find repo root (scripts/fetch-kafka.sh)')
    dir = parent
  }
}

export const REPO_ROOT = findRepoRoot()

export function kafkaLibDir(version = KAFKA_VERSION): string {
  return path.join(REPO_ROOT, '.cache', 'kafka', version, 'lib')
}

function fetchMarker(version: string): string {
  return path.join(REPO_ROOT, '.cache', 'kafka', version, '.fetch-complete')
}

const fetches = new Map<string, Promise<string>>()

/** Make sure the broker jars are present, running scripts/fetch-kafka.sh if not. */
export function ensureKafkaJars(version = KAFKA_VERSION): Promise<string> {
  const lib = kafkaLibDir(version)
  if (fs.existsSync(fetchMarker(version))) return Promise.resolve(lib)
  let p = fetches.get(version)
  if (!p) {
    p = new Promise<string>((resolve, reject) => {
      const script = path.join(REPO_ROOT, 'scripts', 'fetch-kafka.sh')
      const child = spawn('bash', [script], {
        cwd: REPO_ROOT,
        env: { ...process.env, KAFKA_VERSION: version },
        stdio: ['ignore', 'ignore', 'pipe']
      })
      let err = ''
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString()
        if (err.length > 64_000) err = err.slice(-32_000)
      })
      child.on('error', reject)
      child.on('exit', (code, signal) => {
        if (code === 0 && fs.existsSync(fetchMarker(version))) resolve(lib)
        else reject(new Error(`scripts/fetch-kafka.sh failed (code ${code}, signal ${signal}):\n${err}`))
      })
    })
    fetches.set(version, p)
    p.catch(() => fetches.delete(version))
  }
  return p
}

function javaBin(): string {
  const home = process.env.JAVA_HOME
  if (home) {
    const j = path.join(home, 'bin', 'java')
    if (fs.existsSync(j)) return j
  }
  return 'java'
}

// ---------------------------------------------------------------------------
// config files

/** A Kafka Uuid (16 random bytes, base64url, no padding), as StorageTool random-uuid makes. */
function kafkaUuid(): string {
  for (;;) {
    const s = randomBytes(16).toString('base64url')
    // Kafka's Uuid.randomUuid() also avoids a leading '-' (it would look like a CLI flag).
    if (!s.startsWith('-')) return s
  }
}

interface Ports {
  port: number
  saslPort: number
  controllerPort: number
  sslPort?: number
  saslSslPort?: number
}

/** The SSL and SASL_SSL listeners' entries (appended to the plain ones). */
function tlsProperties(tls: NonNullable<StartKafkaOptions['tls']>): Record<string, string> {
  const users = Object.entries(tls.plainUsers)
    .map(([u, pw]) => ` user_${u}="${pw}"`)
    .join('')
  return {
    'ssl.keystore.type': 'PEM',
    'ssl.keystore.location': tls.keystore,
    'listener.name.sasl_ssl.sasl.enabled.mechanisms': 'PLAIN',
    'listener.name.sasl_ssl.plain.sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required${users};`
  }
}

function serverProperties(dataDir: string, p: Ports, opts: StartKafkaOptions): string {
  const extra = opts.serverProperties
  const tlsListeners =
    opts.tls !== undefined ? `,SSL://127.0.0.1:${p.sslPort},SASL_SSL://127.0.0.1:${p.saslSslPort}` : ''
  const props: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${p.controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${p.port},SASL_PLAINTEXT://127.0.0.1:${p.saslPort},CONTROLLER://127.0.0.1:${p.controllerPort}${tlsListeners}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${p.port},SASL_PLAINTEXT://127.0.0.1:${p.saslPort}${tlsListeners}`,
    'listener.security.protocol.map':
      'PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT' +
      (opts.tls !== undefined ? ',SSL:SSL,SASL_SSL:SASL_SSL' : ''),
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'sasl.enabled.mechanisms': 'SCRAM-SHA-256,SCRAM-SHA-512',
    'listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config':
      'org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config':
      'org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'log.dirs': path.join(dataDir, KAFKA_LOG_DIR),
    'num.partitions': 3,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'auto.create.topics.enable': true,
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    'share.coordinator.state.topic.num.partitions': 1,
    'group.initial.rebalance.delay.ms': 0,
    'auto.leader.rebalance.enable': false,
    // After a SIGKILL the restarted node cannot re-register until the old
    // registration's session expires (default 9 s): shorten it for outage tests.
    'broker.heartbeat.interval.ms': 500,
    'broker.session.timeout.ms': 4000,
    // Sized for a 2-core box.
    'num.network.threads': 2,
    'num.io.threads': 4,
    'background.threads': 2,
    'num.recovery.threads.per.data.dir': 1,
    'log.cleaner.threads': 1,
    ...(opts.tls !== undefined ? tlsProperties(opts.tls) : {}),
    ...extra
  }
  return (
    Object.entries(props)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join('\n') + '\n'
  )
}

// Everything goes to stdout, which the harness redirects into the log file.
const LOG4J2_XML = `<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="STDOUT"/></Root>
    <Logger name="org.apache.kafka.common.config.AbstractConfig" level="WARN"/>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.log.LogCleaner" level="WARN"/>
    <Logger name="org.apache.kafka.common.utils.AppInfoParser" level="WARN"/>
  </Loggers>
</Configuration>
`

function tailFile(file: string, lines = 80): string {
  try {
    const fd = fs.openSync(file, 'r')
    try {
      const size = fs.fstatSync(fd).size
      const len = Math.min(size, 256 * 1024)
      const buf = Buffer.alloc(len)
      fs.readSync(fd, buf, 0, len, size - len)
      return buf
        .toString('utf8')
        .split('\n')
        .slice(-lines - 1)
        .join('\n')
    } finally {
      fs.closeSync(fd)
    }
  } catch (e) {
    return `(no log: ${(e as Error).message})`
  }
}

/** ERROR/FATAL lines (plus the exception line after each) of the log since `fromByte`. */
function errorLines(file: string, fromByte = 0, max = 12): string {
  try {
    const all = fs.readFileSync(file)
    const lines = all.subarray(Math.min(fromByte, all.length)).toString('utf8').split('\n')
    const out: string[] = []
    for (let i = 0; i < lines.length && out.length < max; i++) {
      if (/^\[[^\]]+\] (ERROR|FATAL) /.test(lines[i]!) || /^Exception in thread/.test(lines[i]!)) {
        out.push(lines[i]!)
        if (lines[i + 1] && !lines[i + 1]!.startsWith('[')) out.push(lines[i + 1]!)
      }
    }
    return out.join('\n')
  } catch {
    return ''
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise(r => setTimeout(r, ms))
}

// ---------------------------------------------------------------------------
// process bookkeeping: never leave a broker JVM behind

const liveChildren = new Set<ChildProcess>()
let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const c of liveChildren) {
      try {
        c.kill('SIGKILL')
      } catch {
        /* already gone */
      }
    }
  })
}

/**
 * A tiny detached watchdog that SIGKILLs the JVM if this Node process dies
 * without running its 'exit' handlers (SIGKILL, uncaught signal, test-runner
 * timeout), and exits by itself once the JVM is gone.
 */
function spawnWatchdog(javaPid: number): ChildProcess | null {
  try {
    const w = spawn(
      'bash',
      [
        '-c',
        'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; ' +
          'kill -0 "$1" 2>/dev/null || kill -9 "$2" 2>/dev/null; exit 0',
        'holdfast-kafka-watchdog',
        String(process.pid),
        String(javaPid)
      ],
      { detached: true, stdio: 'ignore' }
    )
    w.on('error', () => {})
    w.unref()
    return w
  } catch {
    return null
  }
}

function runToCompletion(
  what: string,
  cmd: string,
  args: string[],
  opts: { cwd: string; logFile: string }
): Promise<void> {
  return new Promise((resolve, reject) => {
    const fd = fs.openSync(opts.logFile, 'a')
    let child: ChildProcess
    try {
      child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', fd, fd] })
    } finally {
      fs.closeSync(fd)
    }
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (code === 0) resolve()
      else
        reject(
          new Error(
            `${what} failed (code ${code}, signal ${signal}); log ${opts.logFile}:\n${tailFile(opts.logFile, 40)}`
          )
        )
    })
  })
}

// ---------------------------------------------------------------------------

class Broker implements KafkaBroker {
  brokers: string[] = []
  saslBrokers: string[] = []
  sslBrokers: string[] = []
  saslSslBrokers: string[] = []
  port = 0
  saslPort = 0
  controllerPort = 0
  clusterId = kafkaUuid()
  logFile: string
  version = KAFKA_VERSION

  private child: ChildProcess | null = null
  private watchdog: ChildProcess | null = null
  private exited: Promise<void> = Promise.resolve()
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null
  private starting: Promise<void> | null = null

  constructor(
    readonly dataDir: string,
    private readonly ownsDataDir: boolean,
    readonly scram: ScramCredentials,
    private readonly lib: string,
    private readonly opts: StartKafkaOptions
  ) {
    this.logFile = path.join(dataDir, 'kafka.log')
  }

  get running(): boolean {
    return this.child !== null && this.exitInfo === null
  }

  private get propsFile(): string {
    return path.join(this.dataDir, 'server.properties')
  }
  private get log4jFile(): string {
    return path.join(this.dataDir, 'log4j2.xml')
  }

  private setPorts(p: Ports): void {
    this.port = p.port
    this.saslPort = p.saslPort
    this.controllerPort = p.controllerPort
    this.brokers = [`127.0.0.1:${p.port}`]
    this.saslBrokers = [`127.0.0.1:${p.saslPort}`]
    if (p.sslPort !== undefined) {
      this.sslPorts = { sslPort: p.sslPort, saslSslPort: p.saslSslPort! }
      this.sslBrokers = [`127.0.0.1:${p.sslPort}`]
      this.saslSslBrokers = [`127.0.0.1:${p.saslSslPort}`]
    }
  }

  private sslPorts: { sslPort?: number; saslSslPort?: number } = {}

  private javaArgs(): string[] {
    return [
      `-Xmx${this.opts.heap ?? '512m'}`,
      '-Xss1m',
      // A test broker lives for seconds to minutes under light load: the C1 compiler alone and the serial
      // collector halve its start-up on a busy 2-core box (35 s -> 13-20 s, restarts 28 s -> 13-15 s, measured).
      '-XX:TieredStopAtLevel=1',
      '-XX:+UseSerialGC',
      '-Djava.awt.headless=true',
      '-Djava.net.preferIPv4Stack=true',
      `-Dlog4j2.configurationFile=${this.log4jFile}`,
      '-cp',
      path.join(this.lib, '*')
    ]
  }

  /** First start: pick ports, write config, format storage (retried with new ports on a bind race). */
  async init(): Promise<void> {
    await fsp.mkdir(this.dataDir, { recursive: true })
    await fsp.writeFile(this.log4jFile, LOG4J2_XML)
    let lastErr: unknown
    for (let attempt = 0; attempt < 3; attempt++) {
      const [port, saslPort, controllerPort, sslPort, saslSslPort] = await pickPorts(
        this.opts.tls !== undefined ? 5 : 3
      )
      this.setPorts({ port: port!, saslPort: saslPort!, controllerPort: controllerPort!, sslPort, saslSslPort })
      await fsp.writeFile(
        this.propsFile,
        serverProperties(
          this.dataDir,
          { port: this.port, saslPort: this.saslPort, controllerPort: this.controllerPort, ...this.sslPorts },
          this.opts
        )
      )
      if (attempt === 0) await this.format()
      try {
        await this.start()
        return
      } catch (e) {
        lastErr = e
        if (!/Address already in use|BindException/.test(String((e as Error).message))) throw e
      }
    }
    throw lastErr
  }

  private async format(): Promise<void> {
    const { user, password } = this.scram
    if (/[,\]=\s"]/.test(user) || /[,\]"\s]/.test(password)) {
      throw new Error('kafka harness: SCRAM user/password must not contain , ] = " or whitespace')
    }
    await runToCompletion(
      `Kafka ${this.version} StorageTool format`,
      javaBin(),
      [
        ...this.javaArgs(),
        'kafka.tools.StorageTool',
        'format',
        '--config',
        this.propsFile,
        '--cluster-id',
        this.clusterId,
        '--ignore-formatted',
        '--add-scram',
        `SCRAM-SHA-256=[name=${user},password=${password}]`,
        '--add-scram',
        `SCRAM-SHA-512=[name=${user},password=${password}]`
      ],
      { cwd: this.dataDir, logFile: this.logFile }
    )
  }

  start(): Promise<void> {
    if (this.running && !this.starting) return Promise.resolve()
    if (this.starting) return this.starting
    this.starting = this.doStart().finally(() => {
      this.starting = null
    })
    return this.starting
  }

  private async doStart(): Promise<void> {
    installExitHook()
    const fd = fs.openSync(this.logFile, 'a')
    const logStart = fs.fstatSync(fd).size
    fs.writeSync(fd, `\n===== holdfast harness: starting Kafka ${this.version} at ${new Date().toISOString()} =====\n`)
    let child: ChildProcess
    try {
      const argv = [javaBin(), ...this.javaArgs(), 'kafka.Kafka', this.propsFile]
      if (this.opts.nice !== undefined) argv.unshift('nice', '-n', String(this.opts.nice))
      child = spawn(argv[0]!, argv.slice(1), {
        cwd: this.dataDir,
        stdio: ['ignore', fd, fd]
      })
    } finally {
      fs.closeSync(fd)
    }
    this.child = child
    this.exitInfo = null
    liveChildren.add(child)
    this.exited = new Promise<void>(resolve => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        if (!this.exitInfo) this.exitInfo = { code, signal }
        liveChildren.delete(child)
        if (this.watchdog?.pid) {
          try {
            process.kill(this.watchdog.pid, 'SIGKILL')
          } catch {
            /* gone */
          }
        }
        this.watchdog = null
        resolve()
      }
      child.once('exit', done)
      child.once('error', err => {
        fs.appendFileSync(this.logFile, `spawn error: ${err.message}\n`)
        done(null, null)
      })
    })
    if (child.pid) this.watchdog = spawnWatchdog(child.pid)

    const t0 = Date.now()
    const deadline = t0 + (this.opts.startTimeoutMs ?? 90_000)
    for (;;) {
      if (this.exitInfo) {
        const { code, signal } = this.exitInfo
        throw new Error(
          `Kafka ${this.version} exited during startup (code ${code}, signal ${signal}); log ${this.logFile}\n` +
            `--- errors ---\n${errorLines(this.logFile, logStart)}\n--- tail ---\n${this.logTail(40)}`
        )
      }
      if (await this.probe()) return
      if (Date.now() > deadline) {
        await this.kill()
        throw new Error(
          `Kafka ${this.version} not ready after ${Date.now() - t0} ms on ${this.brokers[0]}; log ${this.logFile}\n` +
            `--- errors ---\n${errorLines(this.logFile, logStart)}\n--- tail ---\n${this.logTail(40)}`
        )
      }
      await Promise.race([sleep(250), this.exited])
    }
  }

  /** One readiness attempt: admin describeCluster() lists a broker. */
  private async probe(): Promise<boolean> {
    const admin = this.client({ connectionTimeout: 1000, requestTimeout: 3000, retry: { retries: 0 } }).admin()
    try {
      await admin.connect()
      const c = await admin.describeCluster()
      return c.brokers.length > 0 && c.controller !== null
    } catch {
      return false
    } finally {
      await admin.disconnect().catch(() => {})
    }
  }

  private async signalAndWait(signal: NodeJS.Signals, timeoutMs: number): Promise<boolean> {
    const child = this.child
    if (!child || this.exitInfo) return true
    try {
      child.kill(signal)
    } catch {
      /* gone */
    }
    let timer: NodeJS.Timeout | undefined
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>(r => {
        timer = setTimeout(() => r(true), timeoutMs)
      })
    ])
    clearTimeout(timer)
    return !timedOut
  }

  async stop(): Promise<void> {
    if (this.starting) await this.starting.catch(() => {})
    if (await this.signalAndWait('SIGTERM', this.opts.stopTimeoutMs ?? 60_000)) return
    fs.appendFileSync(this.logFile, '\n===== holdfast harness: SIGTERM timed out, sending SIGKILL =====\n')
    await this.signalAndWait('SIGKILL', 30_000)
  }

  async kill(): Promise<void> {
    await this.signalAndWait('SIGKILL', 30_000)
  }

  async restart(): Promise<void> {
    await this.stop()
    await this.start()
  }

  async dispose(): Promise<void> {
    const discard = this.ownsDataDir && process.env.HOLDFAST_KEEP_KAFKA_DATA !== '1'
    // A broker whose data is thrown away needs no orderly shutdown (seconds of it per test file).
    if (discard) await this.kill()
    else await this.stop()
    if (discard) {
      await fsp.rm(this.dataDir, { recursive: true, force: true })
    }
  }

  client(extra: Partial<KafkaConfig> = {}): Kafka {
    return new Kafka({
      clientId: 'holdfast-test',
      brokers: this.brokers,
      logLevel: logLevel.NOTHING,
      ...extra
    })
  }

  logTail(lines = 80): string {
    return tailFile(this.logFile, lines)
  }
}

/**
 * Start a single-node Kafka (KRaft combined mode) on free 127.0.0.1 ports.
 * Fetches the jars first if they are not cached yet (one-off, ~5-60 s).
 */
export async function startKafka(opts: StartKafkaOptions = {}): Promise<KafkaBroker> {
  const lib = await ensureKafkaJars(KAFKA_VERSION)
  const ownsDataDir = !opts.dataDir
  const dataDir = opts.dataDir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'holdfast-kafka-')))
  const broker = new Broker(dataDir, ownsDataDir, opts.scram ?? DEFAULT_SCRAM, lib, opts)
  try {
    await broker.init()
  } catch (e) {
    await broker.kill().catch(() => {})
    throw e
  }
  return broker
}

/** Bytes of a topic's log segments on the broker's disk (every partition): what the topic costs Kafka. */
export function topicLogBytes(kafka: KafkaBroker, topic: string): number {
  const root = path.join(kafka.dataDir, KAFKA_LOG_DIR)
  let total = 0
  for (const dir of fs.readdirSync(root).filter(d => d.startsWith(`${topic}-`)))
    for (const f of fs.readdirSync(path.join(root, dir)).filter(f => f.endsWith('.log')))
      total += fs.statSync(path.join(root, dir, f)).size
  return total
}

// ---------------------------------------------------------------------------
// one broker shared by the test files of a run

/** Environment variable through which scripts/test.sh hands every test file the run's shared broker. */
export const SHARED_KAFKA_ENV = 'HF_TEST_KAFKA'

type SharedInfo = Pick<
  KafkaBroker,
  | 'brokers'
  | 'saslBrokers'
  | 'port'
  | 'saslPort'
  | 'controllerPort'
  | 'scram'
  | 'clusterId'
  | 'dataDir'
  | 'logFile'
  | 'version'
>

export function sharedInfo(b: KafkaBroker): SharedInfo {
  const { brokers, saslBrokers, port, saslPort, controllerPort, scram, clusterId, dataDir, logFile, version } = b
  return { brokers, saslBrokers, port, saslPort, controllerPort, scram, clusterId, dataDir, logFile, version }
}

/** The run's shared broker: usable like one's own, except that it is not this file's to stop. */
class SharedBroker implements KafkaBroker {
  readonly brokers: string[]
  readonly saslBrokers: string[]
  readonly port: number
  readonly saslPort: number
  readonly controllerPort: number
  readonly scram: ScramCredentials
  readonly clusterId: string
  readonly dataDir: string
  readonly logFile: string
  readonly version: string
  readonly running = true
  /** The shared broker has no TLS listeners: files that need them start their own (startKafka({ tls })). */
  readonly sslBrokers: string[] = []
  readonly saslSslBrokers: string[] = []

  constructor(i: SharedInfo) {
    this.brokers = i.brokers
    this.saslBrokers = i.saslBrokers
    this.port = i.port
    this.saslPort = i.saslPort
    this.controllerPort = i.controllerPort
    this.scram = i.scram
    this.clusterId = i.clusterId
    this.dataDir = i.dataDir
    this.logFile = i.logFile
    this.version = i.version
  }

  private refuse(): never {
    throw new Error('the shared test broker cannot be stopped or restarted by a test: use startKafka() for that')
  }
  stop = async (): Promise<void> => this.refuse()
  kill = async (): Promise<void> => this.refuse()
  start = async (): Promise<void> => this.refuse()
  restart = async (): Promise<void> => this.refuse()
  /** The run owns the broker: a file is done with it, nothing more. */
  async dispose(): Promise<void> {}

  client(extra: Partial<KafkaConfig> = {}): Kafka {
    return new Kafka({ clientId: 'holdfast-test', brokers: this.brokers, logLevel: logLevel.NOTHING, ...extra })
  }

  logTail(lines = 80): string {
    return tailFile(this.logFile, lines)
  }
}

/**
 * A broker for a test file that only talks to Kafka (never stops it): the run's shared broker when
 * scripts/test.sh started one (HF_TEST_KAFKA), else one of its own. Topics must be unique per test
 * (createTopic and topicName add a time and a counter). Files that stop, kill or restart the broker,
 * or need other listeners, call startKafka() instead.
 */
export async function useKafka(): Promise<KafkaBroker> {
  const shared = process.env[SHARED_KAFKA_ENV]
  if (shared !== undefined && shared !== '') return new SharedBroker(JSON.parse(shared) as SharedInfo)
  return await startKafka()
}
