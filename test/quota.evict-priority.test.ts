import { test } from 'node:test'
import assert from 'node:assert/strict'
import type mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import { connectAs, devicesConfig, writeConfig } from './harness/devices.js'

// The default priority classes: alarm (2) > event (1) > telemetry (0).
const ALARM = 'devices/mix-1/alarm/high'
const EVENT = 'devices/mix-1/event/door'
const TELE = 'devices/mix-1/telemetry'

/** A reading of exactly 1024 buffer bytes (payload + topic + 40), numbered `n`. */
function reading(topic: string, n: number): Buffer {
  const head = `{"ts":${1_700_000_000_000 + n},"n":${n},"pad":"`
  return Buffer.from(head + 'x'.repeat(1024 - 40 - topic.length - head.length - 2) + '"}')
}

/** Publish readings from..to-1 on a topic, a window in flight; every one must be acknowledged. */
async function publishRange(c: mqtt.MqttClient, topic: string, from: number, to: number): Promise<void> {
  let next = from
  const worker = async (): Promise<void> => {
    while (next < to) {
      const n = next++
      await c.publishAsync(topic, reading(topic, n), { qos: 1 })
    }
  }
  await Promise.all(Array.from({ length: 20 }, worker))
}

/** What the buffer holds per topic: the reading numbers, in order. */
function held(dataDir: string): Record<string, number[]> {
  const out: Record<string, number[]> = { [ALARM]: [], [EVENT]: [], [TELE]: [] }
  for (const r of readBuffer(dataDir)) out[r.topic]!.push(JSON.parse(r.payload.toString()).n as number)
  for (const list of Object.values(out)) list.sort((a, b) => a - b)
  return out
}
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i)

test('a storage quota (drop-oldest) evicts telemetry, then events, and alarms only when nothing else is left', async () => {
  const config = writeConfig({
    devices: await devicesConfig(['mix-1'], () => ({
      quota: { maxBufferedReadings: 50 },
      storagePolicy: 'drop-oldest'
    }))
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    const c = await connectAs(gw.url, 'mix-1')
    // Oldest first: the alarms and events are older than every telemetry reading.
    await publishRange(c, ALARM, 0, 10)
    await publishRange(c, EVENT, 0, 20)
    await publishRange(c, TELE, 0, 100)
    assert.deepEqual(held(gw.dataDir), { [ALARM]: range(0, 10), [EVENT]: range(0, 20), [TELE]: range(80, 100) })

    // 45 more alarms: the 20 telemetry readings go, then the 20 events, then the 5 oldest alarms.
    await publishRange(c, ALARM, 10, 55)
    await c.endAsync()
    assert.deepEqual(held(gw.dataDir), { [ALARM]: range(5, 55), [EVENT]: [], [TELE]: [] })

    const d = (await gw.status()).devices.find((x: any) => x.id === 'mix-1')
    assert.equal(d.received, 175)
    assert.equal(d.dropped.quota_drop_oldest, 125, 'every eviction counted')
    assert.equal(d.received - d.dropped.quota_drop_oldest, 50)
  } finally {
    await gw.stop()
  }
})

test('the disk budget (disk_drop_oldest) takes the lowest priority class first: alarms outlast telemetry and events', async () => {
  // 1 MiB budget = 1024 readings of 1024 bytes.
  const config = writeConfig({
    store: { maxBytes: 1024 * 1024, minFreeBytes: 0 },
    devices: await devicesConfig(['mix-1'], () => ({ storagePolicy: 'drop-oldest' }))
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    const c = await connectAs(gw.url, 'mix-1')
    await publishRange(c, ALARM, 0, 100)
    await publishRange(c, EVENT, 0, 100)
    await publishRange(c, TELE, 0, 1000)
    // 1200 readings into 1024 places: the 176 oldest telemetry readings went.
    assert.deepEqual(held(gw.dataDir), { [ALARM]: range(0, 100), [EVENT]: range(0, 100), [TELE]: range(176, 1000) })

    // 900 more alarms: all 824 telemetry readings go, then the 76 oldest events; no alarm.
    await publishRange(c, ALARM, 100, 1000)
    await c.endAsync()
    assert.deepEqual(held(gw.dataDir), { [ALARM]: range(0, 1000), [EVENT]: range(76, 100), [TELE]: [] })

    const s = await gw.status()
    assert.equal(s.backlog.bytes, 1024 * 1024, 'never past the budget')
    const d = s.devices.find((x: any) => x.id === 'mix-1')
    assert.equal(d.dropped.disk_drop_oldest, 1076, 'every eviction counted')
    assert.equal(s.counters.received, s.counters.stored)
  } finally {
    await gw.stop()
  }
})

test('the disk budget takes telemetry of lighter devices before the alarms of the heaviest one', async () => {
  // 1 MiB budget = 1024 readings of 1024 bytes.
  const config = writeConfig({
    store: { maxBytes: 1024 * 1024, minFreeBytes: 0 },
    devices: await devicesConfig(['siren-1', 'meter-1', 'tiny-1'], () => ({ storagePolicy: 'drop-oldest' }))
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  const topics = {
    alarm: 'devices/siren-1/alarm/high',
    tele: 'devices/meter-1/telemetry',
    tiny: 'devices/tiny-1/telemetry'
  }
  try {
    const siren = await connectAs(gw.url, 'siren-1')
    const meter = await connectAs(gw.url, 'meter-1')
    const tiny = await connectAs(gw.url, 'tiny-1')
    await publishRange(siren, topics.alarm, 0, 700)
    await publishRange(meter, topics.tele, 0, 324)
    // The budget is full: 100 readings of the lightest device need room. The siren holds the most, but
    // only alarms; the meter's telemetry pays.
    await publishRange(tiny, topics.tiny, 0, 100)
    await Promise.all([siren.endAsync(), meter.endAsync(), tiny.endAsync()])
    const byTopic: Record<string, number[]> = { [topics.alarm]: [], [topics.tele]: [], [topics.tiny]: [] }
    for (const r of readBuffer(gw.dataDir)) byTopic[r.topic]!.push(JSON.parse(r.payload.toString()).n as number)
    for (const list of Object.values(byTopic)) list.sort((a, b) => a - b)
    assert.deepEqual(byTopic[topics.alarm], range(0, 700), 'every alarm kept')
    assert.deepEqual(byTopic[topics.tele], range(100, 324), "the meter's 100 oldest readings went")
    assert.deepEqual(byTopic[topics.tiny], range(0, 100))

    const s = await gw.status()
    assert.equal(s.backlog.bytes, 1024 * 1024, 'never past the budget')
    const dropped = (id: string): number => s.devices.find((x: any) => x.id === id).dropped.disk_drop_oldest ?? 0
    assert.deepEqual([dropped('siren-1'), dropped('meter-1'), dropped('tiny-1')], [0, 100, 0])
  } finally {
    await gw.stop()
  }
})
