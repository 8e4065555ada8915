import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startKafka, type KafkaBroker } from './harness/kafka.js'
import { GatewayProcess } from './harness/gateway.js'
import { startSim } from './harness/sim.js'
import { consumeAll, createTopic, dedupe, uplinkArgs } from './harness/consume.js'
import { sleep, waitFor } from './harness/wait.js'
import { parsePrometheusText, valueOf } from './harness/prometheus.js'
import type { DecodedReading } from '../src/codec/batch.js'

// Every test here talks to a real Apache Kafka broker (KRaft, single node, 127.0.0.1).
let kafka: KafkaBroker
before(async () => {
  kafka = await startKafka()
})
after(async () => {
  await kafka?.dispose()
})

const tmp = (): string => mkdtempSync(join(tmpdir(), 'hf-fwd-'))

function gatewayArgs(topic: string, extra: string[] = []): string[] {
  return [...uplinkArgs(kafka, topic), ...extra]
}

/**
 * Every acknowledged reading is in Kafka, and each device's readings are in order in its
 * partition within each lane (the live lane may run ahead of the backlog lane).
 */
/** The forwarder's work from /metrics: produce requests read so far, read workers running now. */
async function forwardWork(gw: GatewayProcess): Promise<{ requestsRead?: number; readWorkers?: number }> {
  const families = parsePrometheusText(await (await fetch(`${gw.http}/metrics`)).text())
  return {
    requestsRead: valueOf(families, 'holdfast_uplink_requests_read_total'),
    readWorkers: valueOf(families, 'holdfast_uplink_read_workers')
  }
}

function checkDelivery(ackedLog: string, unique: DecodedReading[]): void {
  const acked = readFileSync(ackedLog, 'utf8')
    .trim()
    .split('\n')
    .filter(l => l !== '')
  const got = new Map<string, number[]>()
  const present = new Set<string>()
  for (const r of unique) {
    const n = (JSON.parse(r.payload.toString()) as { n: number }).n
    present.add(`${r.device} ${n}`)
    const key = `${r.device} (${r.lane} lane)`
    let list = got.get(key)
    if (list === undefined) got.set(key, (list = []))
    list.push(n)
  }
  const missing = acked.filter(k => !present.has(k))
  assert.deepEqual(
    missing.slice(0, 10),
    [],
    `${missing.length} of ${acked.length} acknowledged readings missing in Kafka`
  )
  for (const [device, ns] of got) {
    for (let i = 1; i < ns.length; i++)
      assert.ok(ns[i]! > ns[i - 1]!, `${device}: out of order in its partition at ${i}: ${ns[i - 1]} then ${ns[i]}`)
  }
}

test('readings published while Kafka is down all arrive once it is up, in order per device', async () => {
  const topic = await createTopic(kafka, 'fwd-test')
  await kafka.stop()
  const gw = await GatewayProcess.start({ args: gatewayArgs(topic, ['--batch-fresh-share', '0']) })
  const ackedLog = join(tmp(), 'acked.log')
  try {
    const sim = await startSim([
      '--url',
      gw.url,
      '--devices',
      '10',
      '--rate',
      '0',
      '--count',
      '500',
      '--inflight',
      '5',
      '--acked-log',
      ackedLog
    ]).result
    assert.equal(sim.acked, 5000, 'devices are served while the uplink is down')
    const st = await waitFor(
      'uplink down',
      async () => {
        const s = await gw.status()
        return s.uplink.state === 'down' && s
      },
      20_000
    )
    assert.ok(st.uplink.lastError, 'lastError says why')
    assert.equal(st.backlog.readings, 5000)
    // Several retries later (the backoff starts at 250 ms), still nothing was read for the dead link: each
    // retry was a probe, and the read workers (an isolate each) do not run.
    await sleep(2000)
    assert.deepEqual(await forwardWork(gw), { requestsRead: 0, readWorkers: 0 })

    await kafka.start()
    const drained = await waitFor('backlog drained', async () => {
      const s = await gw.status()
      return s.backlog.readings === 0 && s
    })
    assert.equal(drained.uplink.state, 'connected')
    assert.equal(drained.counters.forwarded, 5000)
    const working = await forwardWork(gw)
    assert.ok((working.requestsRead ?? 0) > 0, `requests were read once the link was up (${working.requestsRead})`)
    assert.equal(working.readWorkers, 2, 'the read workers run while the uplink takes requests')

    const batches = await consumeAll(kafka, topic, { until: n => n >= 5000 })
    const { unique } = dedupe(batches)
    checkDelivery(ackedLog, unique)
    assert.equal(unique.length, 5000)
    for (const b of batches) {
      assert.equal(b.headers['hf-format'], '2')
      for (const r of b.readings) {
        assert.equal(r.gatewayId, 'test-gw')
        assert.equal(r.lane, 'backlog', 'with freshShare 0 everything goes through the backlog lane')
      }
    }
    // key = gateway id: all of a gateway's devices, one partition.
    const partitions = new Map<string, Set<number>>()
    for (const b of batches)
      for (const r of b.readings)
        (partitions.get(r.device) ?? partitions.set(r.device, new Set()).get(r.device)!).add(b.partition)
    for (const [d, ps] of partitions) assert.equal(ps.size, 1, `${d} spread over partitions ${[...ps]}`)
    // Nothing left to read: the read workers stop (10 s after the last request), their heaps with them.
    await waitFor('read workers stopped', async () => (await forwardWork(gw)).readWorkers === 0, 30_000)
  } finally {
    await gw.stop()
    await kafka.start()
  }
})

test('Kafka stopped and restarted several times under load: nothing missing, duplicates keep their event id', async () => {
  const topic = await createTopic(kafka, 'fwd-test')
  const gw = await GatewayProcess.start({ args: gatewayArgs(topic, ['--batch-fresh-share', '0']) })
  const ackedLog = join(tmp(), 'acked.log')
  try {
    const sim = startSim([
      '--url',
      gw.url,
      '--devices',
      '20',
      '--rate',
      '50',
      '--duration',
      '25',
      '--acked-log',
      ackedLog
    ])
    for (let i = 0; i < 3; i++) {
      await sleep(2500)
      if (i % 2 === 0) await kafka.kill()
      else await kafka.stop()
      await sleep(1500)
      await kafka.start()
    }
    const r = await sim.result
    assert.ok(r.acked > 5000, `fleet published under load (${r.acked})`)
    assert.equal(r.failed, 0)
    await waitFor('backlog drained', async () => (await gw.status()).backlog.readings === 0, 90_000)
    const st = await gw.status()
    const batches = await consumeAll(kafka, topic, { until: n => n >= st.counters.forwarded })
    const { unique, duplicates } = dedupe(batches)
    checkDelivery(ackedLog, unique)
    // A duplicate is the same reading under the same event id: same device, seq and bytes.
    const byId = new Map<string, string>()
    for (const b of batches) {
      for (const x of b.readings) {
        const fingerprint = `${x.device}|${x.seq}|${x.payload.toString('base64')}`
        const prev = byId.get(x.eventId)
        if (prev !== undefined) assert.equal(prev, fingerprint, `event id ${x.eventId} reused for a different reading`)
        byId.set(x.eventId, fingerprint)
      }
    }
    const payloads = new Set(unique.map(x => `${x.device}|${x.payload.toString('base64')}`))
    assert.equal(payloads.size, unique.length, 'no reading arrived under two different event ids')
    process.stdout.write(
      `# kafka restarts: ${r.acked} acked, ${unique.length} unique in Kafka, ${duplicates} duplicate deliveries\n`
    )
  } finally {
    await gw.stop()
  }
})

const UNTHROTTLED = ['--quota-msgs-per-s', '1000000', '--quota-msgs-burst', '1000000']

test('the gateway SIGKILLed during a drain loses nothing', async () => {
  const topic = await createTopic(kafka, 'fwd-test')
  await kafka.stop()
  // Rate quotas lifted: the backlog is built at full speed (the per-device default would hold it to 100/s).
  // Batches of 20 make requests of 2,000 readings (100 batches each): 30 Kafka round trips, so the drain
  // lasts long enough for the kill below to land inside it (in requests of 20,000 it could end between two polls).
  const gw = await GatewayProcess.start({
    args: gatewayArgs(topic, ['--batch-max-readings', '20', ...UNTHROTTLED])
  })
  const ackedLog = join(tmp(), 'acked.log')
  try {
    const sim = await startSim([
      '--url',
      gw.url,
      '--devices',
      '20',
      '--rate',
      '0',
      '--count',
      '3000',
      '--inflight',
      '10',
      '--acked-log',
      ackedLog
    ]).result
    assert.equal(sim.acked, 60_000)
    await kafka.start()
    await waitFor(
      'drain under way',
      async () => {
        const s = await gw.status()
        return s.counters.forwarded > 0 && s.backlog.readings > 0
      },
      60_000,
      10
    )
    await gw.kill()
    await gw.launch()
    await waitFor('backlog drained after restart', async () => (await gw.status()).backlog.readings === 0, 90_000)
    const batches = await consumeAll(kafka, topic, { until: n => n >= 60_000 })
    const { unique } = dedupe(batches)
    checkDelivery(ackedLog, unique)
    assert.equal(unique.length, 60_000)
  } finally {
    await gw.stop()
    await kafka.start()
  }
})

test('a wrong SASL password: uplink down with a clear lastError, readings keep buffering', async () => {
  const topic = await createTopic(kafka, 'fwd-test')
  const gw = await GatewayProcess.start({
    args: [
      '--kafka-brokers',
      kafka.saslBrokers.join(','),
      '--kafka-topic',
      topic,
      '--kafka-sasl-mechanism',
      'scram-sha-512',
      '--kafka-sasl-username',
      kafka.scram.user,
      '--uplink-backoff-max-ms',
      '1000',
      '--uplink-probe-interval-ms',
      '1000'
    ],
    env: { HOLDFAST_KAFKA_SASL_PASSWORD: 'wrong-password' }
  })
  try {
    const st = await waitFor('uplink down for authentication', async () => {
      const s = await gw.status()
      return s.uplink.state === 'down' && /SASL|auth/i.test(s.uplink.lastError) && s
    })
    assert.ok(!JSON.stringify(st).includes('wrong-password'), 'the password is not in the status')
    const sim = await startSim(['--url', gw.url, '--devices', '3', '--rate', '0', '--count', '100']).result
    assert.equal(sim.acked, 300)
    const after = await gw.status()
    assert.equal(after.backlog.readings, 300)
    assert.equal(after.uplink.state, 'down')
  } finally {
    await gw.stop()
  }
  // The same gateway data with the right password drains.
  const ok = await GatewayProcess.start({
    dataDir: gw.dataDir,
    args: [
      '--kafka-brokers',
      kafka.saslBrokers.join(','),
      '--kafka-topic',
      topic,
      '--kafka-sasl-mechanism',
      'scram-sha-512',
      '--kafka-sasl-username',
      kafka.scram.user
    ],
    env: { HOLDFAST_KAFKA_SASL_PASSWORD: kafka.scram.password }
  })
  try {
    await waitFor('drained over SCRAM', async () => (await ok.status()).backlog.readings === 0)
    assert.equal((await ok.status()).uplink.state, 'connected')
  } finally {
    await ok.stop()
  }
})
