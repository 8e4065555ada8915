/**
 * A real gateway process for tests: spawned from dist/, on free loopback ports, with its
 * own data dir and log file; can be SIGKILLed and started again on the same ports and data.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, openSync, closeSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pickPorts } from './ports.js'

export const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..')
export const CLI = join(ROOT, 'dist/src/cli/main.js')

export interface GatewayOptions {
  args?: string[]
  env?: Record<string, string>
  dataDir?: string
  anonymous?: boolean
  /** Open /api/status without a technician login (default true: tests read it freely). */
  statusPublic?: boolean
  /** A command the gateway runs under (e.g. strace and its arguments, ending in `--`). */
  wrap?: string[]
}

export class GatewayProcess {
  readonly mqttPort: number
  readonly httpPort: number
  readonly dataDir: string
  readonly logFile: string
  private child: ChildProcess | null = null
  private exited: Promise<number | null> = Promise.resolve(null)

  private constructor(
    private readonly opts: GatewayOptions,
    mqttPort: number,
    httpPort: number,
    dataDir: string
  ) {
    this.mqttPort = mqttPort
    this.httpPort = httpPort
    this.dataDir = dataDir
    this.logFile = join(dataDir, '..', `gateway-${mqttPort}.log`)
  }

  static async start(opts: GatewayOptions = {}): Promise<GatewayProcess> {
    const dataDir = opts.dataDir ?? join(mkdtempSync(join(tmpdir(), 'hf-test-')), 'data')
    for (let attempt = 1; ; attempt++) {
      const [mqttPort, httpPort] = await pickPorts(2)
      const gw = new GatewayProcess(opts, mqttPort!, httpPort!, dataDir)
      try {
        await gw.launch()
        return gw
      } catch (err) {
        // Another process took a port between the pick and the gateway's bind: new ports, same data.
        if (attempt >= 3 || !/EADDRINUSE/.test(String(err))) throw err
      }
    }
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.mqttPort}`
  }
  get http(): string {
    return `http://127.0.0.1:${this.httpPort}`
  }
  get pid(): number | undefined {
    return this.child?.pid
  }

  /** Start the process (again); `wrap` overrides the options' wrapper for this run. */
  async launch(wrap = this.opts.wrap ?? []): Promise<void> {
    const args = [
      CLI,
      'run',
      '--mqtt-host',
      '127.0.0.1',
      '--http-host',
      '127.0.0.1',
      '--mqtt-port',
      String(this.mqttPort),
      '--http-port',
      String(this.httpPort),
      '--data-dir',
      this.dataDir,
      '--gateway-id',
      'test-gw',
      ...(this.opts.anonymous !== false ? ['--allow-anonymous'] : []),
      ...(this.opts.statusPublic !== false ? ['--status-public'] : []),
      ...(this.opts.args ?? [])
    ]
    const fd = openSync(this.logFile, 'a')
    const child = spawn(
      wrap[0] ?? process.execPath,
      wrap.length > 0 ? [...wrap.slice(1), process.execPath, ...args] : args,
      {
        stdio: ['ignore', fd, fd],
        env: { ...process.env, HOLDFAST_LOG_LEVEL: 'info', ...this.opts.env }
      }
    )
    closeSync(fd)
    this.child = child
    this.exited = new Promise(resolve => child.once('exit', code => resolve(code)))
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}:\n${this.log().slice(-3000)}`)
      try {
        const r = await fetch(`${this.http}/readyz`)
        if (r.status === 200) return
      } catch {}
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    throw new Error(`gateway not ready in 20 s:\n${this.log().slice(-3000)}`)
  }

  async status(): Promise<any> {
    const r = await fetch(`${this.http}/api/status`)
    return await r.json()
  }

  /** The exit code once the process exits by itself (null: killed by a signal); fails after `ms`. */
  async exitCode(ms: number): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`gateway still running after ${ms} ms:\n${this.log().slice(-3000)}`)),
        ms
      )
    })
    try {
      const code = await Promise.race([this.exited, late])
      this.child = null
      return code
    } finally {
      clearTimeout(timer)
    }
  }

  /** SIGKILL: no shutdown code runs, as in a power cut of the process. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL')
    await this.exited
    this.child = null
  }

  async stop(): Promise<number | null> {
    this.child?.kill('SIGTERM')
    const code = await this.exited
    this.child = null
    return code
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8')
    } catch {
      return ''
    }
  }

  /**
   * Wait until the log matches `re` (a line can be written after the counter it goes with shows in
   * /api/status: pino writes asynchronously); fails as assert.match would after `ms`.
   */
  async waitForLog(re: RegExp, message?: string, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms
    while (!re.test(this.log()) && Date.now() < deadline) await new Promise(r => setTimeout(r, 50))
    assert.match(this.log(), re, message)
  }
}

/** Run the CLI to completion and capture its output. */
export async function runCli(
  args: string[],
  opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', d => {
    stdout += d
  })
  child.stderr.on('data', d => {
    stderr += d
  })
  child.stdin.end(opts.input ?? '')
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000)
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** Settings every `holdfast run` here needs: loopback, free ports, a data directory of its own. */
export async function runArgs(dataDir: string): Promise<string[]> {
  const [mqttPort, httpPort] = await pickPorts(2)
  return [
    'run',
    '--mqtt-host',
    '127.0.0.1',
    '--http-host',
    '127.0.0.1',
    '--mqtt-port',
    String(mqttPort),
    '--http-port',
    String(httpPort),
    '--data-dir',
    dataDir
  ]
}
