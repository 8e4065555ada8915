/**
 * No-uplink backlog benchmark: 1,000 devices publish a steady 5,000 QoS 1 readings/s to a gateway with
 * no Kafka configured, so every reading stays buffered (10 minutes: 3M readings). Does memory stay flat
 * while the backlog grows, and does the PUBACK tail stay short? Mosquitto (no persistence) takes the same
 * load beside it for --mosquitto-seconds. Broker on core 1, rawpub on core 0. JSON lines on stdout:
 *  - backlog-sample (every --interval s): RSS (anonymous / file-backed), threads, heap used, buffered
 *    readings, PUBACK p50/p99/max of the PUBACKs in that interval, the broker thread's event-loop delay
 *    since start (/metrics)
 *  - backlog: max RSS over the measured samples, the RSS slope in MB/min over the second half, overall
 *    PUBACK percentiles, readings buffered at the end
 *
 *   node dist/bench/backlog.js [--duration 600] [--devices 1000] [--rate 5000] [--interval 10]
 *     [--mosquitto-seconds 60] [--node-flags="--max-semi-space-size=2"] [--uplink none|down|up]
 *   --uplink down: Kafka configured at a loopback port nobody listens on (a field box whose uplink is
 *     down, the forwarder retrying); up: the real Kafka test broker (nice 19), every reading forwarded as
 *     it comes (the everyday state: nothing builds up); none (default): no Kafka configured
 *   --node-flags: the gateway's node flags instead of the systemd unit's (`none`: node's defaults)
 */
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { freePort } from '../test/harness/ports.js'
import { startKafka, type KafkaBroker } from '../test/harness/kafka.js'
import { createTopic, uplinkArgs } from '../test/harness/consume.js'
import {
  MOSQUITTO,
  emit,
  gatewayNodeFlags,
  loopDelay,
  memory,
  pacedArgs,
  slope,
  startGateway,
  startMosquitto,
  startRawpub,
  status,
  type Broker
} from './procs.js'

const { values: o } = parseArgs({
  options: {
    duration: { type: 'string', default: '600' },
    devices: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '5000' },
    interval: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '5' },
    'mosquitto-seconds': { type: 'string', default: '60' },
    'node-flags': { type: 'string', default: '' },
    uplink: { type: 'string', default: 'none' }
  }
})
const DURATION = Number(o.duration)
const nodeFlags = gatewayNodeFlags(o['node-flags'])
const INTERVAL = Number(o.interval)
if (!['none', 'down', 'up'].includes(o.uplink!)) throw new Error(`--uplink: none, down or up, not ${o.uplink}`)

async function run(target: 'holdfast' | 'mosquitto', seconds: number): Promise<void> {
  const b: Broker =
    target === 'holdfast'
      ? await startGateway({
          cpu: 1,
          // room for the whole backlog: nothing is evicted, the buffer only grows
          extra: [
            '--store-max-bytes',
            String(8 * 1024 ** 3),
            ...(o.uplink === 'down' ? ['--kafka-brokers', `127.0.0.1:${await freePort()}`] : []),
            ...(kafka === null ? [] : uplinkArgs(kafka, await createTopic(kafka, 'bench-backlog')))
          ],
          nodeFlags
        })
      : await startMosquitto(1)
  const samples: Array<{ tS: number; rssMb: number; p99: number | null }> = []
  let pending = Promise.resolve()
  const pub = startRawpub(
    0,
    pacedArgs({
      port: b.mqttPort,
      conns: o.devices!,
      rate: o.rate!,
      warmupS: o.warmup!,
      seconds,
      intervalS: INTERVAL,
      connectTimeoutS: 120
    }),
    line => {
      pending = pending.then(async () => {
        const mem = memory(b.pid)
        const tS = line.tS as number
        const extra: Record<string, unknown> = {}
        if (b.http !== undefined) {
          const st = await status(b.http).catch(() => null)
          extra.bufferedReadings = st?.backlog?.readings ?? null
          extra.heapUsedMb = st?.process ? Math.round(st.process.heapUsedBytes / 1e5) / 10 : null
          extra.loopDelaySinceStartMs = await loopDelay(b.http)
        }
        if (line.inWindow === true) {
          samples.push({ tS, rssMb: mem.rssMb, p99: line.p99Ms as number | null })
        }
        emit({
          scenario: 'backlog-sample',
          target,
          tS,
          inWindow: line.inWindow,
          ...mem,
          ...extra,
          acksPerS: line.acksPerS,
          pubackP50Ms: line.p50Ms,
          pubackP99Ms: line.p99Ms,
          pubackMaxMs: line.maxMs
        })
      })
    }
  )
  const r = await pub.result
  await pending
  const final = memory(b.pid)
  const end: Record<string, unknown> = {}
  if (b.http !== undefined) {
    const st = await status(b.http).catch(() => null)
    end.bufferedReadings = st?.backlog?.readings ?? null
    end.stored = st?.counters?.stored ?? null
    end.forwarded = st?.counters?.forwarded ?? null
    end.loopDelaySinceStartMs = await loopDelay(b.http)
  }
  await b.stop()
  const second = samples.filter(s => s.tS >= samples[0]!.tS + (samples.at(-1)!.tS - samples[0]!.tS) / 2)
  const k = slope(
    second.map(s => s.tS / 60),
    second.map(s => s.rssMb)
  )
  emit({
    scenario: 'backlog',
    target,
    devices: Number(o.devices),
    ...(target === 'holdfast' ? { uplink: o.uplink } : {}),
    targetRate: Number(o.rate),
    seconds,
    ...(target === 'holdfast' ? { nodeFlags: nodeFlags.join(' ') } : {}),
    msgsPerS: r.msgsPerS,
    rssMbMax: samples.length ? Math.max(...samples.map(s => s.rssMb)) : null,
    rssMbFirst: samples[0]?.rssMb ?? null,
    rssMbLast: samples.at(-1)?.rssMb ?? null,
    // positive = still growing; over a long run anything above ~0.5 MB/min is a leak
    rssSlopeMbPerMinSecondHalf: k === null ? null : Math.round(k * 100) / 100,
    threads: final.threads,
    pubackP50Ms: r.p50Ms,
    pubackP99Ms: r.p99Ms,
    pubackMaxMs: r.maxMs,
    pubackP99MsWorstInterval: Math.max(...samples.map(s => s.p99 ?? 0)),
    ...end,
    unacked: r.unacked,
    ok: r.ok,
    ...(target === 'holdfast' ? { targets: 'RSS <= 100 MB every sample, no upward trend, PUBACK p99 <= 15 ms' } : {})
  })
}

let kafka: KafkaBroker | null = null

async function main(): Promise<void> {
  if (o.uplink === 'up') kafka = await startKafka({ nice: 19 })
  try {
    await run('holdfast', DURATION)
  } finally {
    await kafka?.dispose()
  }
  const ms = Math.min(DURATION, Number(o['mosquitto-seconds']))
  if (ms > 0 && existsSync(MOSQUITTO)) await run('mosquitto', ms)
  else emit({ scenario: 'backlog', target: 'mosquitto', skipped: ms > 0 ? 'not installed' : '--mosquitto-seconds 0' })
}

main().catch(err => {
  process.stderr.write(`${(err as Error).stack}\n`)
  process.exit(1)
})
