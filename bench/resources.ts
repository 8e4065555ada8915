/**
 * Resource benchmark: the gateway with 1,000 connected devices publishing a steady 5,000 readings/s
 * (rawpub, QoS 1). JSON lines on stdout:
 *  - rss-idle: RSS with 1,000 devices connected, before load (target < 150 MB)
 *  - steady: RSS and CPU % of one core at a steady 5,000 readings/s; bytes written to disk per reading
 *    stored (write amplification, from /proc/<pid>/io), and the gateway's own running total from /metrics
 *
 *   node dist/bench/resources.js [--devices 1000] [--rate 5000] [--duration 20]
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { cpuTicks, emit, loopDelay, memory, pacedArgs, sleep, startGateway, startRawpub, status } from './procs.js'

const { values: o } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '5000' },
    duration: { type: 'string', default: '20' }
  }
})
const TICK = 100 // clock ticks per second on Linux

function writeBytes(pid: number): number {
  return Number(/write_bytes:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1])
}

async function main(): Promise<void> {
  const devices = Number(o.devices)
  const rate = Number(o.rate)
  const duration = Number(o.duration)
  // Neither pinned: the scheduler places them, as on a box.
  const gw = await startGateway({ cpu: null })
  const { pid, http } = gw
  try {
    // Load with a 5 s warm-up: connections are made first, RSS is sampled with them all idle.
    const pub = startRawpub(null, pacedArgs({ port: gw.mqttPort, conns: devices, rate, warmupS: 5, seconds: duration }))
    for (;;) {
      const st = await status(http)
      if (st.mqtt.connections >= devices) break
      if (pub.child.exitCode !== null) throw new Error('rawpub exited before connecting')
      await sleep(100)
    }
    emit({ scenario: 'rss-idle', devices, rssMb: memory(pid).rssMb, target: '< 150 MB' })
    await sleep(5000) // warm-up
    const c0 = cpuTicks(pid)
    const w0 = writeBytes(pid)
    const s0 = (await status(http)).counters.stored as number
    const t0 = performance.now()
    const rss: number[] = []
    while (performance.now() - t0 < (duration - 1) * 1000) {
      rss.push(memory(pid).rssMb)
      await sleep(1000)
    }
    const seconds = (performance.now() - t0) / 1000
    const cpuPct = Math.round(((cpuTicks(pid) - c0) / TICK / seconds) * 1000) / 10
    const stored = ((await status(http)).counters.stored as number) - s0
    const written = writeBytes(pid) - w0
    const metrics = await (await fetch(`${http}/metrics`)).text()
    const total = /^holdfast_store_disk_write_bytes_total (\S+)/m.exec(metrics)?.[1]
    const r = await pub.result
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
      eventLoopDelayMs: await loopDelay(http),
      rssTimelineMb: rss
    })
  } finally {
    await gw.stop()
  }
}

main().catch(err => {
  process.stderr.write(`${(err as Error).stack}\n`)
  process.exit(1)
})
