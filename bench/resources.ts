/**
 * Resource benchmark: the gateway with 1,000 connected devices publishing a steady 5,000 readings/s
 * (rawpub, QoS 1). JSON lines on stdout:
 *  - rss-idle: RSS with 1,000 devices connected, before load (target < 150 MB)
 *  - steady: RSS and CPU % of one core at a steady 5,000 readings/s; bytes written to disk per reading
 *    stored (write amplification, from /proc/<pid>/io), and the gateway's own running total from /metrics
 *
 *   node dist/bench/resources.js [--devices 1000] [--rate 5000] [--duration 20]
 */
import { spawn } from 'node:child_process'
import { readFileSync, mkdtempSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { freePort } from '../test/harness/ports.js'
import { CLI } from '../test/harness/gateway.js'

const { values: o } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '5000' },
    duration: { type: 'string', default: '20' }
  }
})
const RAWPUB = resolve(fileURLToPath(import.meta.url), '../rawpub.js')
const emit = (line: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify(line) + '\n')
}
const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
const TICK = 100 // clock ticks per second on Linux

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Math.round((Number(m![1]) / 1024) * 10) / 10
}
function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return Number(f[11]) + Number(f[12])
}
function writeBytes(pid: number): number {
  return Number(/write_bytes:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1])
}
const status = async (http: string): Promise<any> => await (await fetch(`${http}/api/status`)).json()

async function main(): Promise<void> {
  const devices = Number(o.devices)
  const rate = Number(o.rate)
  const duration = Number(o.duration)
  const mqttPort = await freePort()
  const httpPort = await freePort()
  const http = `http://127.0.0.1:${httpPort}`
  const dataDir = join(mkdtempSync(join(tmpdir(), 'hf-res-')), 'data')
  const gw = spawn(
    process.execPath,
    [
      CLI,
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
      dataDir,
      '--gateway-id',
      'bench-res',
      '--allow-anonymous',
      '--status-public',
      '--log-level',
      'warn',
      '--mqtt-conn-rate-per-address',
      '100000',
      '--mqtt-conn-burst-per-address',
      '100000'
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] }
  )
  try {
    for (;;) {
      const ok = await new Promise<boolean>(resolve => {
        const s = connect(mqttPort, '127.0.0.1', () => {
          s.destroy()
          resolve(true)
        })
        s.on('error', () => resolve(false))
      })
      if (ok) break
      if (gw.exitCode !== null) throw new Error('gateway exited')
      await sleep(20)
    }
    const pid = gw.pid!
    // Load with a 5 s warm-up: connections are made first, RSS is sampled with them all idle.
    const pub = spawn(
      process.execPath,
      [
        RAWPUB,
        '--host',
        '127.0.0.1',
        '--port',
        String(mqttPort),
        '--mode',
        'paced',
        '--conns',
        String(devices),
        '--rate',
        String(rate),
        '--warmup',
        '5',
        '--duration',
        String(duration),
        '--quiet'
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] }
    )
    let out = ''
    pub.stdout!.on('data', d => {
      out += d
    })
    for (;;) {
      const st = await status(http)
      if (st.mqtt.connections >= devices) break
      if (pub.exitCode !== null) throw new Error('rawpub exited before connecting')
      await sleep(100)
    }
    emit({ scenario: 'rss-idle', devices, rssMb: rssMb(pid), target: '< 150 MB' })
    await sleep(5000) // warm-up
    const c0 = cpuTicks(pid)
    const w0 = writeBytes(pid)
    const s0 = (await status(http)).counters.stored as number
    const t0 = performance.now()
    const rss: number[] = []
    while (performance.now() - t0 < (duration - 1) * 1000) {
      rss.push(rssMb(pid))
      await sleep(1000)
    }
    const seconds = (performance.now() - t0) / 1000
    const cpuPct = Math.round(((cpuTicks(pid) - c0) / TICK / seconds) * 1000) / 10
    const stored = ((await status(http)).counters.stored as number) - s0
    const written = writeBytes(pid) - w0
    const metrics = await (await fetch(`${http}/metrics`)).text()
    const total = /^holdfast_store_disk_write_bytes_total (\S+)/m.exec(metrics)?.[1]
    const delay = (q: string): number | null => {
      const v = new RegExp(`^holdfast_event_loop_delay_seconds\\{quantile="${q}"\\} (\\S+)$`, 'm').exec(metrics)?.[1]
      return v === undefined ? null : Math.round(Number(v) * 1e5) / 100
    }
    await new Promise(resolve => pub.once('exit', resolve))
    const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, unknown>
    emit({
      scenario: 'steady',
      devices,
      targetRate: rate,
      storedPerS: Math.round(stored / seconds),
      rssMbMax: Math.max(...rss),
      rssMbMean: Math.round((rss.reduce((a, b) => a + b, 0) / rss.length) * 10) / 10,
      cpuPctOfOneCore: cpuPct,
      diskBytesWrittenPerReading: stored > 0 ? Math.round(written / stored) : null,
      metricsDiskWriteBytesTotal: total === undefined ? null : Number(total),
      pubackP50Ms: r.p50Ms,
      pubackP99Ms: r.p99Ms,
      // The broker thread's event-loop delay since start (includes connecting 1,000 devices).
      eventLoopDelayMs: { p50: delay('0.5'), p99: delay('0.99'), max: delay('1') },
      rssTimelineMb: rss
    })
  } finally {
    gw.kill('SIGTERM')
  }
}

main().catch(err => {
  process.stderr.write(`${(err as Error).stack}\n`)
  process.exit(1)
})
