import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { useKafka, type KafkaBroker } from './harness/kafka.js'
import { startSim } from './harness/sim.js'
import { consumeAll, dedupe } from './harness/consume.js'
import { operatorKey, push, signed, startRemoteGateway, uplinkSettings, waitFor } from './harness/remote.js'

let kafka: KafkaBroker
before(async () => {
  kafka = await useKafka()
})
after(async () => {
  await kafka?.dispose()
})

const key = operatorKey()

test('a document that cuts the uplink (wrong SASL password) is rolled back within its window, and the rollback is reported once the uplink works', async () => {
  const rc = await startRemoteGateway(kafka, { name: 'rollback', key })
  const { dir, topic, configTopic, status, gw } = rc
  const ackedLog = join(dir, 'acked.log')
  try {
    await status.heartbeat(r => r.gatewayId === 'test-gw')
    const sim = startSim([
      '--url',
      gw.url,
      '--devices',
      '5',
      '--rate',
      '20',
      '--duration',
      '12',
      '--acked-log',
      ackedLog
    ])
    const WINDOW_S = 8
    const pushedAt = Date.now()
    await push(
      kafka,
      configTopic,
      'test-gw',
      signed(key, {
        gatewayId: 'test-gw',
        version: 7,
        confirmWindowS: WINDOW_S,
        config: uplinkSettings(kafka, topic, {
          brokers: kafka.saslBrokers,
          saslMechanism: 'scram-sha-512',
          saslUsername: kafka.scram.user,
          saslPassword: 'wrong-password'
        })
      })
    )
    // While the bad document is in force, the gateway says so on its own page.
    await waitFor('version 7 applied', async () => (await gw.status()).config.version === 7, 20_000)
    const during = await gw.status()
    assert.match(during.config.source, /awaiting confirmation/)

    const rolled = await status.event('rolled-back v7', r => r.type === 'rolled-back' && r.version === 7, 40_000)
    const applied = status.events().find(r => r.type === 'applied' && r.version === 7)
    assert.ok(applied !== undefined, 'the applied event is reported too (queued while the uplink was cut)')
    assert.ok(applied.seq < rolled.seq, 'in order')
    const afterS = (Date.parse(rolled.at) - Date.parse(applied.at)) / 1000
    process.stdout.write(
      `# rolled back ${afterS} s after applying (window ${WINDOW_S} s); reported ${(Date.now() - pushedAt) / 1000} s after the push\n`
    )
    assert.ok(afterS >= WINDOW_S - 0.5 && afterS <= WINDOW_S + 3, `rolled back when the window ended (${afterS} s)`)
    assert.equal(rolled.reason, 'uplink_unconfirmed')
    assert.equal(rolled.restoredVersion, null, 'back to the local configuration')
    assert.match(rolled.message!, /not reachable within 8 s of applying version 7 \(test-gw\): .*(SASL|auth)/i)
    assert.ok(!JSON.stringify(status.reports).includes('wrong-password'), 'the password is never reported')

    const st = await waitFor('uplink connected again', async () => {
      const s = await gw.status()
      return s.uplink.state === 'connected' && s
    })
    assert.equal(st.config.version, null)

    // Readings taken while the uplink was cut were kept and are delivered now.
    const r = await sim.result
    assert.equal(r.failed, 0)
    await waitFor('backlog drained', async () => {
      const s = await gw.status()
      return s.backlog.readings === 0 && s.counters.forwarded >= r.acked
    })
    const { unique } = dedupe(await consumeAll(kafka, topic, { until: n => n >= r.acked }))
    const present = new Set(unique.map(x => `${x.device} ${(JSON.parse(x.payload.toString()) as { n: number }).n}`))
    const missing = readFileSync(ackedLog, 'utf8')
      .trim()
      .split('\n')
      .filter(k => !present.has(k))
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} acknowledged readings missing in Kafka`)

    // The rolled-back version is spent: pushing it again changes nothing.
    await push(
      kafka,
      configTopic,
      'test-gw',
      signed(key, { gatewayId: 'test-gw', version: 7, confirmWindowS: 30, config: uplinkSettings(kafka, topic) })
    )
    await status.event('v7 again: not newer', r => r.type === 'rejected' && r.version === 7 && r.reason === 'not_newer')
  } finally {
    await rc.close()
  }
})

test('a document with unreachable brokers on top of a confirmed one: back to the confirmed version', async () => {
  const rc = await startRemoteGateway(kafka, { name: 'rollback2', key })
  const { topic, configTopic, status, gw } = rc
  try {
    await push(
      kafka,
      configTopic,
      'test-gw',
      signed(key, {
        gatewayId: 'test-gw',
        version: 10,
        confirmWindowS: 20,
        config: { ...uplinkSettings(kafka, topic), quota: { msgsPerS: 50 } }
      })
    )
    await status.event('confirmed v10', r => r.type === 'confirmed' && r.version === 10)
    await push(
      kafka,
      configTopic,
      'test-gw',
      signed(key, {
        gatewayId: 'test-gw',
        version: 11,
        confirmWindowS: 6,
        config: { ...uplinkSettings(kafka, topic, { brokers: ['127.0.0.1:1'] }), quota: { msgsPerS: 60 } }
      })
    )
    const rolled = await status.event('rolled-back v11', r => r.type === 'rolled-back' && r.version === 11, 40_000)
    assert.equal(rolled.restoredVersion, 10)
    const st = await waitFor('connected on v10', async () => {
      const s = await gw.status()
      return s.uplink.state === 'connected' && s.config.version === 10 && s
    })
    assert.doesNotMatch(st.config.source, /awaiting/)
    const hb = await status.heartbeat(
      r => r.gatewayId === 'test-gw' && r.config.version === 10 && Date.parse(r.at) > Date.parse(rolled.at)
    )
    assert.equal(hb.config.state, 'confirmed')
    assert.deepEqual(
      status.events().map(e => `${e.type} v${String(e.version)}`),
      ['applied v10', 'confirmed v10', 'applied v11', 'rolled-back v11']
    )
  } finally {
    await rc.close()
  }
})
