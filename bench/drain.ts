/**
 * Uplink benchmark against the real Kafka test broker. JSON lines on stdout:
 *  - startup: time from spawn to MQTT accepting connections with N readings buffered
 *  - drain: backlog drain rate (readings/s) from N buffered readings to Kafka
 *  - after-drain: the gateway's RSS (its anonymous part, threads, the broker thread's V8 heap used) 0, 10,
 *    30 and 60 s after the backlog is gone, idle with the uplink up, and its peak RSS
 *  - bytes: uplink bytes per reading (Kafka log segment bytes / readings) vs raw JSON payload bytes
 *  - e2e-latency: device publish → readable in Kafka, p50/p99, with a healthy uplink at default linger: the
 *    steady state, and apart the readings of the run's last second (they wait out batch.lingerMs)
 *
 *   node dist/bench/drain.js [--readings 1000000] [--devices 1000] [--latency-seconds 10]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { decodeBatch } from '../src/codec/batch.js'
import { prefill as prefillReadings } from './prefill.js'
import { emit, memory, sleep, startGateway, status } from './procs.js'
import { startKafka, topicLogBytes, type KafkaBroker } from '../test/harness/kafka.js'
import { createTopic } from '../test/harness/consume.js'
import { startSim } from '../test/harness/sim.js'

const { values: o } = parseArgs({
  options: {
    readings: { type: 'string', default: '1000000' },
    devices: { type: 'string', default: '1000' },
    'latency-seconds': { type: 'string', default: '10' }
  }
})
const N = Number(o.readings)
const DEVICES = Number(o.devices)
const progress = (s: string): void => {
  process.stderr.write(`[drain] ${s}\n`)
}

function prefill(dataDir: string): number {
  return prefillReadings(dataDir, N, DEVICES)
}

async function gateway(
  dataDir: string,
  kafka: KafkaBroker,
  topic: string
): Promise<Awaited<ReturnType<typeof startGateway>> & { startupMs: number }> {
  const t0 = performance.now()
  // Not pinned: gateway and Kafka broker where the scheduler puts them.
  const g = await startGateway({
    cpu: null,
    dataDir,
    extra: ['--kafka-brokers', kafka.brokers.join(','), '--kafka-topic', topic]
  })
  return { ...g, startupMs: Math.round(performance.now() - t0) }
}

async function main(): Promise<void> {
  const kafka = await startKafka()
  // The gateways' buffers (over 100 MB for the drain's million readings), removed at the end.
  const dirs: string[] = []
  try {
    // Drain and bytes per reading.
    const dataDir = join(mkdtempSync(join(tmpdir(), 'hf-drain-')), 'data')
    dirs.push(dirname(dataDir))
    progress(`prefilling ${N} readings for ${DEVICES} devices`)
    const rawBytes = prefill(dataDir)
    const topic = await createTopic(kafka, 'bench-drain')
    const gw = await gateway(dataDir, kafka, topic)
    emit({ scenario: 'startup', buffered: N, startupMs: gw.startupMs, target: '< 3000 ms' })
    const t0 = performance.now()
    let st = await status(gw.http)
    while (st.backlog.readings > 0) {
      await sleep(100)
      st = await status(gw.http)
      if (performance.now() - t0 > 600_000) throw new Error('drain took over 10 minutes')
    }
    const drainS = (performance.now() - t0) / 1000
    emit({
      scenario: 'drain',
      readings: N,
      seconds: Math.round(drainS * 100) / 100,
      readingsPerS: Math.round(N / drainS),
      forwarded: st.counters.forwarded,
      target: '>= 100000 readings/s'
    })
    // What the gateway keeps once the backlog is gone and it idles with the uplink up.
    const idle: Array<{ afterS: number; rssMb: number; anonMb: number; threads: number; heapUsedMb: number | null }> =
      []
    const idleFrom = performance.now()
    let peak = 0
    for (const afterS of [0, 10, 30, 60]) {
      await sleep(Math.max(0, idleFrom + afterS * 1000 - performance.now()))
      const m = memory(gw.pid)
      peak = m.peakRssMb
      const heap = (await status(gw.http)).process?.heapUsedBytes as number | undefined
      idle.push({
        afterS,
        rssMb: m.rssMb,
        anonMb: m.anonMb,
        threads: m.threads,
        heapUsedMb: heap === undefined ? null : Math.round(heap / 1e5) / 10
      })
    }
    emit({ scenario: 'after-drain', peakRssMb: peak, idle })
    await gw.stop()
    await sleep(2000)
    const kafkaBytes = topicLogBytes(kafka, topic)
    emit({
      scenario: 'uplink-bytes',
      readings: N,
      rawJsonBytesPerReading: Math.round((rawBytes / N) * 10) / 10,
      kafkaLogBytesPerReading: Math.round((kafkaBytes / N) * 100) / 100,
      ratio: Math.round((kafkaBytes / rawBytes) * 1000) / 1000,
      target: '<= 0.15'
    })

    // End-to-end latency with a healthy uplink at default linger.
    const topic2 = await createTopic(kafka, 'bench-latency')
    const latDir = mkdtempSync(join(tmpdir(), 'hf-lat-'))
    dirs.push(latDir)
    const gw2 = await gateway(join(latDir, 'data'), kafka, topic2)
    const consumer = kafka.client().consumer({ groupId: `lat-${Date.now()}` })
    await consumer.connect()
    await consumer.subscribe({ topic: topic2, fromBeginning: true })
    // [event time, latency] of each reading that arrived
    const seen: Array<[number, number]> = []
    await consumer.run({
      eachMessage: async ({ message }) => {
        const now = Date.now()
        for (const r of decodeBatch(message.value!)) if (r.eventMs !== null) seen.push([r.eventMs, now - r.eventMs])
      }
    })
    const seconds = Number(o['latency-seconds'])
    const sim = await startSim([
      '--url',
      `mqtt://127.0.0.1:${gw2.mqttPort}`,
      '--devices',
      '100',
      '--rate',
      '10',
      '--duration',
      String(seconds)
    ]).result
    const simEnd = Date.now()
    // The last readings may linger up to batch.lingerMs (5 s) before they are sent.
    await sleep(7000)
    await consumer.disconnect()
    await gw2.stop()
    // The adaptive linger sends when the readings waiting average 4 a device, which the last ones of a run
    // never do: they wait out batch.lingerMs. The steady state is the readings published up to 1 s before
    // the devices stopped (ten more followed each of them); the rest is the run's end, reported apart.
    const steady = seen.filter(([at]) => at <= simEnd - 1000).map(([, ms]) => ms)
    const end = seen.filter(([at]) => at > simEnd - 1000).map(([, ms]) => ms)
    const pct = (xs: number[], p: number): number | null => {
      if (xs.length === 0) return null
      xs.sort((a, b) => a - b)
      return xs[Math.min(xs.length - 1, Math.floor(xs.length * p))]!
    }
    emit({
      scenario: 'e2e-latency',
      devices: 100,
      ratePerDevice: 10,
      published: sim.published,
      arrived: seen.length,
      steadyReadings: steady.length,
      p50Ms: pct(steady, 0.5),
      p99Ms: pct(steady, 0.99),
      maxMs: pct(steady, 1),
      endReadings: end.length,
      endP50Ms: pct(end, 0.5),
      endMaxMs: pct(end, 1),
      target: 'p99 < 1000 ms (steady state)'
    })
  } finally {
    await kafka.dispose()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
}

main().catch(err => {
  process.stderr.write(`${(err as Error).stack}\n`)
  process.exit(1)
})
