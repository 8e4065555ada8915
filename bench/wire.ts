/**
 * Bytes per reading in Kafka's log, measured from the broker's log segment files (not the producer's
 * estimate), for live operation and for a drain, next to the raw JSON size. JSON lines on stdout.
 *  - live: D devices (device-sim) at 1, 10 and 50 readings/s each for S seconds through a gateway at its
 *    default linger, into a fresh one-partition topic;
 *  - drain: the same devices publish N readings each while Kafka is stopped, then the backlog drains.
 * Raw JSON bytes are the delivered payloads' own bytes (decoded from the topic). Ledger control records
 * are part of the log and counted.
 *
 *   node dist/bench/wire.js [--devices 100] [--seconds 20] [--rates 1,10,50] [--drain-per-device 1000]
 *                           [--key-by gateway|device]
 */
import { parseArgs } from 'node:util'
import { startKafka, topicLogBytes, type KafkaBroker } from '../test/harness/kafka.js'
import { createTopic } from '../test/harness/consume.js'
import { GatewayProcess } from '../test/harness/gateway.js'
import { startSim } from '../test/harness/sim.js'
import { decodeMessage } from '../src/codec/batch.js'

const { values: o } = parseArgs({
  options: {
    devices: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '20' },
    rates: { type: 'string', default: '1,10,50' },
    'drain-per-device': { type: 'string', default: '1000' },
    'key-by': { type: 'string', default: 'gateway' }
  }
})
const DEVICES = Number(o.devices)
const SECONDS = Number(o.seconds)
const emit = (line: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify(line) + '\n')
}
const progress = (s: string): void => {
  process.stderr.write(`[wire] ${s}\n`)
}
const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** Distinct readings and their raw payload bytes, and the messages, as a consumer sees the topic. */
async function contents(
  kafka: KafkaBroker,
  topic: string
): Promise<{ readings: number; rawBytes: number; messages: number; control: number }> {
  const admin = kafka.client().admin()
  await admin.connect()
  const end = Number((await admin.fetchTopicOffsets(topic))[0]!.high)
  await admin.disconnect()
  const consumer = kafka.client().consumer({ groupId: `wire-${Date.now()}-${Math.random()}` })
  const seen = new Set<number>()
  let rawBytes = 0
  let messages = 0
  let control = 0
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  let done!: () => void
  const finished = new Promise<void>(resolve => {
    done = resolve
  })
  await consumer.run({
    eachMessage: async ({ message }) => {
      messages++
      const m = decodeMessage(message.value!)
      if (m.control !== null) control++
      for (const r of m.readings) {
        if (seen.has(r.seq)) continue
        seen.add(r.seq)
        rawBytes += r.payload.length
      }
      if (Number(message.offset) + 1 >= end) done()
    }
  })
  if (end > 0) await Promise.race([finished, sleep(120_000)])
  await consumer.disconnect()
  return { readings: seen.size, rawBytes, messages, control }
}

async function measure(
  kafka: KafkaBroker,
  scenario: string,
  run: (gw: GatewayProcess) => Promise<void>,
  extra: Record<string, unknown>
): Promise<void> {
  const topic = await createTopic(kafka, `bench-wire-${scenario}`, 1)
  const gw = await GatewayProcess.start({
    args: ['--kafka-brokers', kafka.brokers.join(','), '--kafka-topic', topic, '--batch-key-by', String(o['key-by'])]
  })
  try {
    await run(gw)
    for (let i = 0; i < 1200; i++) {
      if ((await gw.status()).backlog.readings === 0) break
      await sleep(100)
    }
  } finally {
    await gw.stop() // a clean stop sends the last ledger record
  }
  await sleep(1000)
  const bytes = topicLogBytes(kafka, topic)
  const c = await contents(kafka, topic)
  emit({
    scenario,
    ...extra,
    keyBy: o['key-by'],
    readings: c.readings,
    messages: c.messages,
    controlRecords: c.control,
    rawJsonBytesPerReading: Math.round((c.rawBytes / c.readings) * 10) / 10,
    kafkaLogBytesPerReading: Math.round((bytes / c.readings) * 100) / 100,
    ratio: Math.round((bytes / c.rawBytes) * 1000) / 1000,
    target: scenario === 'wire-drain' ? '<= 0.06' : '<= 0.12'
  })
}

async function main(): Promise<void> {
  const kafka = await startKafka()
  try {
    for (const rate of String(o.rates).split(',').map(Number)) {
      progress(`live: ${DEVICES} devices at ${rate}/s for ${SECONDS} s`)
      await measure(
        kafka,
        'wire-live',
        async gw => {
          const sim = await startSim([
            '--url',
            gw.url,
            '--devices',
            String(DEVICES),
            '--rate',
            String(rate),
            '--duration',
            String(SECONDS)
          ]).result
          if (sim.failed > 0) throw new Error(`sim: ${sim.failed} failed`)
        },
        { devices: DEVICES, ratePerDevice: rate, seconds: SECONDS }
      )
    }
    const per = Number(o['drain-per-device'])
    progress(`drain: ${DEVICES} devices × ${per} readings buffered while Kafka is down`)
    await measure(
      kafka,
      'wire-drain',
      async gw => {
        await kafka.stop()
        const sim = await startSim([
          '--url',
          gw.url,
          '--devices',
          String(DEVICES),
          '--rate',
          '0',
          '--count',
          String(per)
        ]).result
        if (sim.failed > 0) throw new Error(`sim: ${sim.failed} failed`)
        await kafka.start()
      },
      { devices: DEVICES, buffered: DEVICES * per }
    )
  } finally {
    await kafka.dispose()
  }
}

main().then(
  // kafkajs leaves timers behind; the measurements are out.
  () => process.exit(0),
  err => {
    process.stderr.write(`${(err as Error).stack}\n`)
    process.exit(1)
  }
)
