import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startKafka, type KafkaBroker } from './harness/kafka.js'
import { GatewayProcess, runCli } from './harness/gateway.js'
import { startSim } from './harness/sim.js'
import { createTopic } from './harness/consume.js'
import { waitFor } from './harness/wait.js'
import { decodeMessage, frameStream } from '../src/codec/batch.js'

// The stream accounts for itself: through an outage in which the disk budget drops the oldest readings,
// the gateway's ledger control records let `holdfast reconcile` account for every sequence number —
// and a batch taken out of the stream shows up as missing.

let kafka: KafkaBroker
before(async () => {
  kafka = await startKafka()
})
after(async () => {
  await kafka?.dispose()
})

const tmp = (): string => mkdtempSync(join(tmpdir(), 'hf-reconcile-'))

/** Every message of the topic, raw, in offset order. */
async function rawMessages(topic: string, count: number): Promise<Buffer[]> {
  const consumer = kafka.client().consumer({ groupId: `raw-${Date.now()}` })
  const out: Buffer[] = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    let done!: () => void
    const finished = new Promise<void>(resolve => {
      done = resolve
    })
    await consumer.run({
      eachMessage: async ({ message }) => {
        out.push(message.value!)
        if (out.length >= count) done()
      }
    })
    await Promise.race([finished, new Promise(resolve => setTimeout(resolve, 30_000))])
  } finally {
    await consumer.disconnect()
  }
  return out
}

async function topicEnd(topic: string): Promise<number> {
  const admin = kafka.client().admin()
  await admin.connect()
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0)
  } finally {
    await admin.disconnect()
  }
}

const ackedPerDevice = (file: string): Map<string, number> => {
  const out = new Map<string, number>()
  for (const line of readFileSync(file, 'utf8').split('\n'))
    if (line !== '') out.set(line.split(' ')[0]!, (out.get(line.split(' ')[0]!) ?? 0) + 1)
  return out
}

test('an outage with drops under a small disk budget, then recovery: reconcile accounts for every seq; a skipped batch is missing', async () => {
  const topic = await createTopic(kafka, 'reconcile', 1)
  const dir = tmp()
  const ackedLog = join(dir, 'acked.log')
  const args = [
    '--kafka-brokers',
    kafka.brokers.join(','),
    '--kafka-topic',
    topic,
    '--store-max-bytes',
    String(1024 * 1024),
    '--store-min-free-bytes',
    '0',
    '--batch-ledger-interval-ms',
    '300',
    '--uplink-probe-interval-ms',
    '500'
  ]
  const dataDir = join(dir, 'data')
  let gw = await GatewayProcess.start({ args, dataDir })
  let dropped = 0
  try {
    // Live: everything goes through.
    const live = await startSim([
      '--url',
      gw.url,
      '--devices',
      '4',
      '--rate',
      '50',
      '--duration',
      '2',
      '--acked-log',
      ackedLog
    ]).result
    assert.equal(live.failed, 0)
    await waitFor('live readings forwarded', async () => (await gw.status()).counters.forwarded === live.acked)

    // Outage: more than the disk budget arrives; drop-oldest makes room.
    await kafka.stop()
    const outage = await startSim([
      '--url',
      gw.url,
      '--devices',
      '4',
      '--prefix',
      'sim-',
      '--rate',
      '0',
      '--count',
      '3000',
      '--acked-log',
      ackedLog
    ]).result
    assert.equal(outage.acked, 12_000)
    const during = await gw.status()
    dropped = during.counters.dropped.disk_drop_oldest
    assert.ok(dropped > 1000, `the disk budget dropped the oldest readings (${dropped})`)

    // Recovery: the backlog drains; a clean stop sends the last ledger record.
    await kafka.start()
    await waitFor('backlog drained', async () => (await gw.status()).backlog.readings === 0, 120_000)
    assert.equal(await gw.stop(), 0)

    // Lifetime totals survive the restart; the since-start counters begin again.
    gw = await GatewayProcess.start({ args, dataDir })
    const after = await gw.status()
    assert.equal(after.counters.forwarded, 0)
    assert.equal(after.lifetime.forwarded, live.acked + 12_000 - dropped)
    assert.equal(after.lifetime.dropped.disk_drop_oldest, dropped)
    assert.equal(after.lifetime.stored, live.acked + 12_000)
  } finally {
    await gw.stop()
  }

  const acked = ackedPerDevice(ackedLog)
  const r = await runCli(['reconcile', '--brokers', kafka.brokers.join(','), '--topic', topic], { timeoutMs: 60_000 })
  assert.equal(r.code, 0, r.stdout + r.stderr)
  const lines = r.stdout
    .trim()
    .split('\n')
    .map(l => JSON.parse(l))
  const summary = lines.pop().summary
  assert.deepEqual([summary.ok, summary.missingSeqs, summary.missingByDevice], [true, 0, 0])
  const gateway = lines.find(l => l.ledgers !== undefined)
  assert.equal(gateway.dropped.disk_drop_oldest, dropped)
  assert.equal(gateway.missing, 0)
  for (const [device, n] of acked) {
    const d = lines.find(l => l.device === device)
    assert.ok(d, `${device} reported`)
    // Every reading the device had acknowledged is delivered or accounted for as dropped at the edge.
    assert.equal(d.delivered + (d.dropped.disk_drop_oldest ?? 0), n, `${device}: ${JSON.stringify(d)}`)
    assert.equal(d.released, d.delivered)
    assert.equal(d.missing, 0)
  }

  // The same stream from a file reconciles; with one batch taken out it does not.
  const values = await rawMessages(topic, await topicEnd(topic))
  const whole = join(tmp(), 'all.hfs')
  writeFileSync(whole, frameStream(values))
  const ok = await runCli(['reconcile', whole])
  assert.equal(ok.code, 0, ok.stdout)
  const victim = values.findIndex(v => decodeMessage(v).type === 'raw' && decodeMessage(v).readings.length > 5)
  const lost = decodeMessage(values[victim]!).readings.length
  const skipped = join(tmp(), 'skipped.hfs')
  writeFileSync(skipped, frameStream(values.filter((_, i) => i !== victim)))
  const bad = await runCli(['reconcile', skipped])
  assert.equal(bad.code, 1, bad.stdout)
  const badSummary = JSON.parse(bad.stdout.trim().split('\n').pop()!).summary
  assert.equal(badSummary.ok, false)
  assert.equal(badSummary.missingSeqs, lost)
  assert.equal(badSummary.missingByDevice, lost)
})
