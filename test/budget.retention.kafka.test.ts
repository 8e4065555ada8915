import { createTopicReady } from './harness/consume.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { startKafka, type KafkaBroker } from './harness/kafka.js'
import { GatewayProcess } from './harness/gateway.js'
import { startSim } from './harness/sim.js'

// Local retention against the real Kafka broker: raw readings stay on the box for store.retainMs after
// Kafka acknowledged them, then go; and within the disk budget they are the first to go when space is
// needed — before any reading waiting for the uplink is touched.

let kafka: KafkaBroker
before(async () => {
  kafka = await startKafka()
})
after(async () => {
  await kafka?.dispose()
})

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
const MiB = 1024 * 1024

async function freshTopic(): Promise<string> {
  const topic = `retain-test-${Date.now()}`
  await createTopicReady(kafka, { topic, numPartitions: 1 })
  return topic
}

async function until<T>(what: string, fn: () => Promise<T | false>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v !== false) return v
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`)
    await sleep(200)
  }
}

const keptRows = (dataDir: string): number => {
  const db = new Database(join(dataDir, 'buffer.db'), { readonly: true })
  try {
    return db.prepare('SELECT count(*) FROM kept WHERE fwd_ms IS NOT NULL').pluck().get() as number
  } finally {
    db.close()
  }
}

test('forwarded raw readings are kept for store.retainMs, then expire', async () => {
  const topic = await freshTopic()
  const gw = await GatewayProcess.start({
    args: ['--kafka-brokers', kafka.brokers.join(','), '--kafka-topic', topic, '--store-retain-ms', '6000']
  })
  try {
    const sim = await startSim(['--url', gw.url, '--devices', '5', '--rate', '0', '--count', '200']).result
    assert.equal(sim.acked, 1000)
    const st = await until('forwarded', async () => {
      const s = await gw.status()
      return s.counters.forwarded === 1000 && s.backlog.readings === 0 && s
    })
    assert.equal(st.aggregation.kept.readings, 1000, 'every forwarded reading is still on the box')
    assert.equal(keptRows(gw.dataDir), 1000)
    const t = Date.now()
    await until('retention over', async () => (await gw.status()).aggregation.kept.readings === 0, 20_000)
    assert.ok(Date.now() - t >= 3000, 'kept for about retainMs')
    assert.equal(keptRows(gw.dataDir), 0)
  } finally {
    await gw.stop()
  }
})

test('within the disk budget, retained readings are the first to go', async () => {
  const topic = await freshTopic()
  const args = [
    '--kafka-brokers',
    kafka.brokers.join(','),
    '--kafka-topic',
    topic,
    '--kafka-request-timeout-ms',
    '2000',
    '--uplink-backoff-max-ms',
    '1000',
    '--store-max-bytes',
    String(MiB),
    '--store-retain-ms',
    '3600000'
  ]
  const gw = await GatewayProcess.start({ args })
  try {
    // ~0.6 MiB forwarded and retained.
    await startSim(['--url', gw.url, '--devices', '4', '--rate', '0', '--count', '1000']).result
    const st = await until('forwarded', async () => {
      const s = await gw.status()
      return s.backlog.readings === 0 && s.counters.forwarded === 4000 && s
    })
    const retained = st.aggregation.kept.bytes as number
    assert.ok(retained > 0.5 * MiB, `retained ${retained} B`)
    // A long outage: ~0.6 MiB more must wait for the uplink; together they exceed the budget.
    await kafka.stop()
    await until('uplink down', async () => (await gw.status()).uplink.state !== 'connected')
    const more = await startSim([
      '--url',
      gw.url,
      '--devices',
      '4',
      '--rate',
      '0',
      '--count',
      '1000',
      '--prefix',
      'late-'
    ]).result
    assert.equal(more.acked, 4000)
    const after = await gw.status()
    const dropped = Object.values(after.counters.dropped as Record<string, number>).reduce((a, b) => a + b, 0)
    process.stdout.write(
      `# retained before the outage ${retained} B, after ${after.aggregation.kept.bytes} B; waiting ${after.backlog.bytes} B; budget ${MiB} B\n`
    )
    assert.equal(dropped, 0, 'no waiting reading was dropped')
    assert.equal(after.backlog.readings, 4000, 'everything that waits for the uplink is there')
    assert.ok(after.aggregation.kept.bytes < retained, 'retained readings made room')
    assert.ok(after.backlog.bytes + after.aggregation.kept.bytes <= MiB)
  } finally {
    await gw.stop()
    await kafka.start()
  }
})
