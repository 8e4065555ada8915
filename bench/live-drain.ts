/**
 * Live ingest during a drain, against the real Kafka test broker (test/harness/kafka.ts). JSON lines:
 *  - live-baseline: 500 devices at 5,000 QoS 1 msg/s, uplink healthy and nothing buffered: PUBACK p50/p99
 *    (/api/status polled every 200 ms, as during the drain)
 *  - live-during-drain: the same load on a gateway holding 1M buffered readings whose uplink returns (Kafka
 *    is started once the load runs): PUBACK p50/p99 of the PUBACKs received while the backlog drains, the
 *    drain rate (backlog readings gone per second, and everything forwarded per second), the broker
 *    thread's event-loop delay
 *  - live-drain: p99 during the drain / p99 baseline (target <= 1.5) and the drain rate (target >= 200,000/s)
 * Gateway on core 1, rawpub on core 0; the Kafka JVM is not pinned (it shares both cores) and runs at nice 19
 * (--kafka-nice), so it takes the CPU they leave: on a real box the Kafka cluster is elsewhere.
 *
 *   node dist/bench/live-drain.js [--readings 1000000] [--devices 500] [--rate 5000] [--baseline-seconds 20]
 *     [--node-flags="--max-semi-space-size=4"|none] [--kafka-nice 19] [--gateway-cpus 1|0,1]
 *     [--broker-thread-cpu 1]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { startKafka, type KafkaBroker } from '../test/harness/kafka.js'
import { createTopic, uplinkArgs } from '../test/harness/consume.js'
import { prefill } from './prefill.js'
import {
  addHist,
  emit,
  gatewayNodeFlags,
  histQuantile,
  loopDelay,
  memory,
  pacedArgs,
  pinBrokerThread,
  sleep,
  startGateway,
  startRawpub,
  status,
  walSyncMeanMs,
  walSyncs
} from './procs.js'

const { values: o } = parseArgs({
  options: {
    readings: { type: 'string', default: '1000000' },
    devices: { type: 'string', default: '500' },
    rate: { type: 'string', default: '5000' },
    'baseline-seconds': { type: 'string', default: '20' },
    'node-flags': { type: 'string', default: '' },
    // The Kafka JVM shares this box's two cores; on a real gateway the cluster is elsewhere. At nice 19 it
    // takes only the CPU the gateway and the load generator leave ('' = the caller's priority).
    'kafka-nice': { type: 'string', default: '19' },
    // The gateway's cores (taskset list). '0,1' shows a box with a spare core: the read workers (nice 19)
    // may use the generator's core when it idles, and the broker's thread keeps priority over them.
    'gateway-cpus': { type: 'string', default: '1' },
    // The broker's thread alone on this core, the gateway's other threads on --gateway-cpus (pinBrokerThread):
    // with --gateway-cpus 0 the workers never take the broker thread's core, with 0,1 they may.
    'broker-thread-cpu': { type: 'string', default: '' }
  }
})
const N = Number(o.readings)
const nodeFlags = gatewayNodeFlags(o['node-flags'])
/** --broker-thread-cpu: the broker's thread moved onto its core (returns the stop of the mover). */
const pinThreads = (pid: number): (() => void) =>
  o['broker-thread-cpu'] === '' ? () => {} : pinBrokerThread(pid, o['broker-thread-cpu']!, o['gateway-cpus']!)
const progress = (s: string): void => {
  process.stderr.write(`[live-drain] ${s}\n`)
}
const load = (port: number, seconds: number, interval: boolean): string[] =>
  pacedArgs({ port, conns: o.devices!, rate: o.rate!, warmupS: 3, seconds, intervalS: interval ? 1 : undefined })

async function baseline(kafka: KafkaBroker): Promise<number | null> {
  const topic = await createTopic(kafka, 'bench-live-base')
  const gw = await startGateway({ cpu: o['gateway-cpus']!, extra: uplinkArgs(kafka, topic), nodeFlags })
  const unpin = pinThreads(gw.pid)
  const sync0 = await walSyncs(gw.http)
  const pub = startRawpub(0, load(gw.mqttPort, Number(o['baseline-seconds']), false))
  // The drain's phase polls /api/status every 200 ms (the drain's progress): so does this one, so that
  // the ratio compares the drain with the same load, not with a quieter broker thread.
  let running = true
  void pub.result.then(() => {
    running = false
  })
  while (running) {
    await sleep(200)
    await status(gw.http).catch(() => null)
  }
  const r = await pub.result
  const ld = await loopDelay(gw.http)
  const sync1 = await walSyncs(gw.http)
  const st = await status(gw.http)
  const peak = memory(gw.pid).peakRssMb
  unpin()
  await gw.stop()
  emit({
    scenario: 'live-baseline',
    devices: Number(o.devices),
    targetRate: Number(o.rate),
    msgsPerS: r.msgsPerS,
    pubackP50Ms: r.p50Ms,
    pubackP99Ms: r.p99Ms,
    pubackMaxMs: r.maxMs,
    forwarded: st.counters.forwarded,
    loopDelaySinceStartMs: ld,
    walSyncMeanMs: walSyncMeanMs(sync0, sync1),
    walSyncMaxMsSinceStart: sync1?.maxMs ?? null,
    peakRssMb: peak,
    ok: r.ok
  })
  // From the histogram, as the drain's figure is (its 2 % buckets): the ratio compares like with like.
  const h = new Map<number, number>()
  addHist(h, r.hist)
  return histQuantile(h, 0.99)
}

async function duringDrain(kafka: KafkaBroker): Promise<Record<string, unknown>> {
  const topic = await createTopic(kafka, 'bench-live-drain')
  const dataDir = join(mkdtempSync(join(tmpdir(), 'hf-live-drain-')), 'data')
  progress(`prefilling ${N} readings`)
  prefill(dataDir, N, 1000)
  await kafka.stop() // the uplink is down: the gateway starts with its backlog and nowhere to send it
  const gw = await startGateway({ cpu: o['gateway-cpus']!, dataDir, extra: uplinkArgs(kafka, topic), nodeFlags })
  const unpin = pinThreads(gw.pid)
  const intervals: Array<{ at: number; hist: unknown; p99: unknown }> = []
  const pub = startRawpub(0, load(gw.mqttPort, 600, true), line => {
    intervals.push({ at: performance.now(), hist: line.hist, p99: line.p99Ms })
  })
  try {
    await sleep(8000) // connect, warm up, a few seconds of load with the uplink down
    const f0 = (await status(gw.http)).counters.forwarded as number
    progress('starting Kafka: the uplink returns')
    // Not awaited: the gateway may reach the broker before start() has seen it ready.
    const kafkaUp = kafka.start()
    kafkaUp.catch(() => {})
    let start = 0
    let fStart = f0
    let bStart = 0
    let syncStart: Awaited<ReturnType<typeof walSyncs>> = null
    let last = await status(gw.http)
    const deadline = performance.now() + 300_000
    let slowStatus = 0
    for (;;) {
      await sleep(200)
      // The status API answers on the broker's thread: a stall there shows as a slow answer, counted.
      const t = performance.now()
      const st = await status(gw.http).catch(() => null)
      if (st === null || performance.now() - t > 1000) slowStatus++
      if (st === null) continue
      last = st
      const fwd = last.counters.forwarded as number
      if (start === 0 && fwd > f0) {
        start = performance.now()
        fStart = fwd
        bStart = last.backlog.readings as number
        syncStart = await walSyncs(gw.http)
        progress(`drain started with ${bStart} buffered`)
      }
      // Done when what is left is about one second of live readings.
      if (start > 0 && (last.backlog.readings as number) <= Number(o.rate)) break
      if (performance.now() > deadline) throw new Error('the backlog did not drain within 5 minutes')
    }
    const end = performance.now()
    const seconds = (end - start) / 1000
    const syncEnd = await walSyncs(gw.http)
    await kafkaUp
    await sleep(1500) // the interval that holds the drain's end
    const ld = await loopDelay(gw.http)
    const mem = memory(gw.pid)
    const h = new Map<number, number>()
    // Intervals (1 s) that ended inside the drain, or within a second after it.
    const inDrain = intervals.filter(i => i.at > start + 1000 && i.at <= end + 1000)
    for (const i of inDrain) addHist(h, i.hist)
    return {
      scenario: 'live-during-drain',
      devices: Number(o.devices),
      targetRate: Number(o.rate),
      buffered: N,
      backlogAtDrainStart: bStart,
      drainSeconds: Math.round(seconds * 100) / 100,
      // backlog readings gone per second (the live readings keep arriving meanwhile)
      drainReadingsPerS: Math.round((bStart - (last.backlog.readings as number)) / seconds),
      forwardedPerS: Math.round(((last.counters.forwarded as number) - fStart) / seconds),
      intervalsMeasured: inDrain.length,
      // /api/status polls (every 200 ms) that took over 1 s or failed (5 s timeout) during the drain
      slowStatusPolls: slowStatus,
      pubackP50Ms: histQuantile(h, 0.5),
      pubackP99Ms: histQuantile(h, 0.99),
      pubackP99MsWorstInterval: Math.max(...inDrain.map(i => (typeof i.p99 === 'number' ? i.p99 : 0))),
      pubackP99MsPerInterval: inDrain.map(i => (typeof i.p99 === 'number' ? Math.round(i.p99) : null)),
      loopDelaySinceStartMs: ld,
      // The commit worker's WAL fdatasyncs during the drain (every PUBACK waits for one)
      walSyncMeanMs: walSyncMeanMs(syncStart, syncEnd),
      walSyncMaxMsSinceStart: syncEnd?.maxMs ?? null,
      rssMb: mem.rssMb,
      peakRssMb: mem.peakRssMb,
      threads: mem.threads,
      kafkaNice: o['kafka-nice'] === '' ? null : Number(o['kafka-nice']),
      gatewayCpus: o['gateway-cpus'],
      brokerThreadCpu: o['broker-thread-cpu'] === '' ? null : o['broker-thread-cpu'],
      nodeFlags: nodeFlags.join(' ')
    }
  } finally {
    pub.child.kill('SIGKILL')
    unpin()
    await gw.stop()
    rmSync(dirname(dataDir), { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const kafka = await startKafka(o['kafka-nice'] === '' ? {} : { nice: Number(o['kafka-nice']) })
  try {
    const base = await baseline(kafka)
    const live = await duringDrain(kafka)
    emit(live)
    const p99 = live.pubackP99Ms as number | null
    emit({
      scenario: 'live-drain',
      pubackP99RatioDrainToBaseline: p99 !== null && base ? Math.round((p99 / base) * 100) / 100 : null,
      drainReadingsPerS: live.drainReadingsPerS,
      gatewayCpus: o['gateway-cpus'],
      brokerThreadCpu: o['broker-thread-cpu'] === '' ? null : o['broker-thread-cpu'],
      targets: 'p99 ratio <= 1.5, drain >= 200000 readings/s'
    })
  } finally {
    await kafka.dispose()
  }
}

main().catch(err => {
  process.stderr.write(`${(err as Error).stack}\n`)
  process.exit(1)
})
