import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { startKafka, type KafkaBroker } from './harness/kafka.js'
import { GatewayProcess } from './harness/gateway.js'
import { startSim } from './harness/sim.js'
import type { DecodedReading } from '../src/codec/batch.js'
import { consumeAll, createTopic, type Consumed, uplinkArgs } from './harness/consume.js'

// Priorities against the real Kafka broker: a large telemetry backlog built while Kafka is down, then
// alarms and events; once Kafka is back the alarms must arrive before the backlog has drained.

let kafka: KafkaBroker
before(async () => {
  kafka = await startKafka()
})
after(async () => {
  await kafka?.dispose()
})

test('an alarm published behind a large telemetry backlog reaches Kafka before the backlog has drained', async () => {
  const topic = await createTopic(kafka, 'prio-test')
  await kafka.stop()
  const gw = await GatewayProcess.start({
    args: [
      ...uplinkArgs(kafka, topic),
      '--batch-fresh-share',
      '0',
      // Requests of 200 x 100 = 20,000 readings: the backlog takes several (one request of 1,000-reading
      // batches could carry most of it, as one partition takes a gateway's whole request).
      '--batch-max-readings',
      '200',
      // Rate quotas lifted: the backlog is built at full speed (the per-device default would hold it to 100/s).
      '--quota-msgs-per-s',
      '1000000',
      '--quota-msgs-burst',
      '1000000'
    ]
  })
  const devices = 20
  const perDevice = 3000
  const alarms = 6
  const events = 6
  try {
    const sim = await startSim([
      '--url',
      gw.url,
      '--devices',
      String(devices),
      '--rate',
      '0',
      '--count',
      String(perDevice),
      '--inflight',
      '10'
    ]).result
    assert.equal(sim.acked, devices * perDevice)
    // Alarms and events from two of the same devices, after all their telemetry.
    const c = await mqtt.connectAsync(gw.url, { clientId: 'urgent-pub' })
    for (let k = 0; k < alarms; k++) {
      const device = `sim-${k % 2}`
      await c.publishAsync(`devices/${device}/alarm`, JSON.stringify({ ts: Date.now(), n: k, code: 'overtemp' }), {
        qos: 1
      })
      await c.publishAsync(
        `devices/${device}/event/door`,
        JSON.stringify({ ts: Date.now(), n: k, open: k % 2 === 0 }),
        { qos: 1 }
      )
    }
    await c.endAsync()
    const st = await gw.status()
    assert.equal(st.backlog.readings, devices * perDevice + alarms + events)
    assert.deepEqual(
      st.aggregation.lanes.map((l: any) => [l.priority, l.kind]),
      [
        [2, 'raw'],
        [1, 'raw'],
        [0, 'raw']
      ],
      'three lanes: alarm, event, telemetry'
    )

    await kafka.start()
    const total = devices * perDevice + alarms + events
    const got = await consumeAll(kafka, topic, { until: n => n >= total, timeoutMs: 120_000 })
    const seen = new Set<string>()
    const unique: Array<DecodedReading & Consumed> = []
    for (const g of got)
      for (const r of g.readings)
        if (!seen.has(r.eventId)) {
          seen.add(r.eventId)
          unique.push({ ...r, ...g })
        }
    assert.equal(unique.length, total, 'everything arrived')

    const alarmMsgs = got.filter(g => g.cls === 'alarm')
    const teleMsgs = got.filter(g => g.cls === 'telemetry')
    assert.ok(alarmMsgs.length > 0 && alarmMsgs.every(g => g.readings.every(r => r.topic.endsWith('/alarm'))))
    const lastAlarm = Math.max(...alarmMsgs.map(g => g.timestamp))
    const teleAfter = teleMsgs.filter(g => g.timestamp > lastAlarm).reduce((s, g) => s + g.readings.length, 0)
    const teleBefore = teleMsgs.filter(g => g.timestamp < lastAlarm).reduce((s, g) => s + g.readings.length, 0)
    process.stdout.write(
      `# backlog ${devices * perDevice}: telemetry before the last alarm ${teleBefore}, after it ${teleAfter}\n`
    )
    assert.equal(teleBefore, 0, 'no telemetry request went before the alarms')
    // The request with the alarms carries at most 20,000 readings; everything after it was still in the
    // buffer when the alarms were acknowledged.
    assert.ok(
      teleAfter > (devices * perDevice) / 2,
      `most of the backlog (${teleAfter}) was still to drain when the alarms arrived`
    )
    // Same for events (priority 1), which follow the alarms in the same first request.
    const eventMsgs = got.filter(g => g.cls === 'event')
    assert.ok(Math.max(...eventMsgs.map(g => g.timestamp)) < Math.max(...teleMsgs.map(g => g.timestamp)))

    // Each device's readings of one class are in order in its partition.
    const byKey = new Map<string, number[]>()
    for (const r of unique) {
      const key = `${r.device} ${r.cls}`
      let list = byKey.get(key)
      if (list === undefined) byKey.set(key, (list = []))
      list.push(JSON.parse(r.payload.toString()).n)
    }
    for (const [key, ns] of byKey) {
      for (let i = 1; i < ns.length; i++) assert.ok(ns[i]! > ns[i - 1]!, `${key}: out of order at ${i}`)
    }
    assert.deepEqual(byKey.get('sim-0 alarm'), [0, 2, 4])
    assert.deepEqual(byKey.get('sim-1 alarm'), [1, 3, 5])
    const drained = await gw.status()
    assert.equal(drained.backlog.readings, 0)
    assert.equal(drained.counters.forwarded, total)
  } finally {
    await gw.stop()
    await kafka.start()
  }
})
