import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { useKafka, type KafkaBroker } from './harness/kafka.js'
import { startSim } from './harness/sim.js'
import { consumeAll, dedupe } from './harness/consume.js'
import { operatorKey, push, signed, sleep, startRemoteGateway, uplinkSettings, waitFor } from './harness/remote.js'
import { hashSecret } from '../src/identity/secret.js'

// A real Apache Kafka broker carries the telemetry, the config topic and the status topic.
let kafka: KafkaBroker
before(async () => {
  kafka = await useKafka()
})
after(async () => {
  await kafka?.dispose()
})

const key = operatorKey()
const SECRET = 'device-secret-1'

test('a signed document is applied live while devices publish: nobody disconnected, every acknowledged reading in Kafka', async () => {
  const hash = await hashSecret(SECRET)
  const devices = (quota?: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(
      Array.from({ length: 10 }, (_, i) => [
        `sim-${i}`,
        { passwordHash: hash, ...(quota !== undefined && i === 0 ? { quota } : {}) }
      ])
    )
  const rc = await startRemoteGateway(kafka, {
    name: 'apply',
    key,
    partitions: 3,
    extra: { devices: devices() },
    gateway: { anonymous: false }
  })
  const { dir, topic, configTopic, status, gw } = rc
  const ackedLog = join(dir, 'acked.log')
  try {
    const first = await status.heartbeat(r => r.gatewayId === 'test-gw')
    assert.equal(first.config.state, 'local')
    assert.equal((await gw.status()).config.version, null)

    const sim = startSim([
      '--url',
      gw.url,
      '--devices',
      '10',
      '--rate',
      '25',
      '--duration',
      '14',
      '--password',
      SECRET,
      '--acked-log',
      ackedLog
    ])
    await sleep(4000)
    const pushedAt = Date.now()
    // New Kafka client id (so a new producer), new batching, new quotas: all live.
    await push(
      kafka,
      configTopic,
      'test-gw',
      signed(key, {
        gatewayId: 'test-gw',
        version: 1,
        confirmWindowS: 30,
        comment: 'raise sim-0, batch faster',
        config: {
          ...uplinkSettings(kafka, topic, { clientId: 'test-gw-v1' }),
          batch: { lingerMs: 20, maxReadings: 500 },
          quota: { msgsPerS: 200, msgsBurst: 400 },
          devices: devices({ msgsPerS: 500 })
        }
      })
    )
    const applied = await status.event('applied v1', r => r.type === 'applied' && r.version === 1)
    const confirmed = await status.event('confirmed v1', r => r.type === 'confirmed' && r.version === 1)
    const tookMs = Date.parse(confirmed.at) - pushedAt
    process.stdout.write(`# push → applied ${Date.parse(applied.at) - pushedAt} ms, confirmed ${tookMs} ms\n`)
    assert.equal(applied.source, 'gateway')
    assert.deepEqual([...applied.changed].sort(), ['batch', 'devices', 'kafka', 'quota'])

    const st = await gw.status()
    assert.equal(st.config.version, 1)
    assert.match(st.config.source, /remote document \(key test-gw/)
    const limits = (id: string) => st.devices.find((d: any) => d.id === id)?.quota.limits
    assert.equal(limits('sim-0').msgsPerS, 500, 'the per-device quota of a connected device changed')
    assert.equal(limits('sim-1').msgsPerS, 200)

    const r = await sim.result
    assert.equal(r.failed, 0)
    assert.equal(r.acked, r.published, `every publish acknowledged (${r.acked}/${r.published})`)
    assert.equal((r as any).connects, 10, 'no device was disconnected by the change')

    const drained = await waitFor('backlog drained', async () => {
      const s = await gw.status()
      return s.backlog.readings === 0 && s.counters.forwarded >= r.acked && s
    })
    const c = drained.counters
    assert.equal(
      c.received,
      c.stored + c.duplicates,
      `received ${c.received} = stored ${c.stored} + duplicates ${c.duplicates}`
    )
    assert.equal(c.stored, c.forwarded, 'everything stored was forwarded')
    assert.equal(
      Object.values(c.dropped).reduce((a: number, b: any) => a + b, 0),
      0,
      'nothing dropped'
    )
    assert.equal(c.stored, r.acked)

    const batches = await consumeAll(kafka, topic, { until: n => n >= r.acked })
    const { unique } = dedupe(batches)
    const present = new Set(unique.map(x => `${x.device} ${(JSON.parse(x.payload.toString()) as { n: number }).n}`))
    const acked = readFileSync(ackedLog, 'utf8').trim().split('\n')
    const missing = acked.filter(k => !present.has(k))
    assert.deepEqual(
      missing.slice(0, 5),
      [],
      `${missing.length} of ${acked.length} acknowledged readings missing in Kafka`
    )
    assert.equal(unique.length, acked.length)
    assert.deepEqual(
      status.events().filter(e => e.type === 'rejected' || e.type === 'rolled-back'),
      []
    )
  } finally {
    await rc.close()
  }
})

test('the applied version survives a restart and is not applied or reported twice', async () => {
  const rc = await startRemoteGateway(kafka, { name: 'restart', key })
  const { topic, configTopic, status, gw } = rc
  try {
    await push(
      kafka,
      configTopic,
      'test-gw',
      signed(key, {
        gatewayId: 'test-gw',
        version: 5,
        confirmWindowS: 20,
        config: { ...uplinkSettings(kafka, topic), store: { maxBytes: 64 * 1024 * 1024 } }
      })
    )
    await status.event('confirmed v5', r => r.type === 'confirmed' && r.version === 5)
    assert.equal((await gw.status()).config.version, 5)
    assert.equal(await gw.stop(), 0)

    const before = status.events().length
    await gw.launch()
    // At once, before the config topic is read again: the stored document is in force.
    const st = await gw.status()
    assert.equal(st.config.version, 5)
    const hb = await status.heartbeat(
      r => r.gatewayId === 'test-gw' && Date.parse(r.at) > Date.now() - 1500 && r.uptimeS < 30
    )
    assert.equal(hb.config.version, 5)
    assert.equal(hb.config.state, 'confirmed')
    assert.equal(hb.softwareVersion, st.version)
    // Give the re-read of the config topic time to happen: it must report nothing.
    await waitFor(
      'topic re-read',
      () =>
        gw.log().includes('config topic read to its end') && gw.log().split('config topic read to its end').length >= 3,
      30_000
    )
    await sleep(2000)
    assert.deepEqual(status.events().slice(before), [], 'nothing applied, rejected or reported again after the restart')
  } finally {
    await rc.close()
  }
})
