import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'

test('readings published over TCP land in the buffer with their fields, in order, once', async () => {
  const gw = await GatewayProcess.start()
  const t0 = Date.now()
  const devices = ['sensor-a', 'sensor-b', 'sensor-c']
  const perDevice = 200
  try {
    await Promise.all(
      devices.map(async (id, di) => {
        const c = await mqtt.connectAsync(gw.url, { clientId: id })
        const qos = ([0, 1, 2] as const)[di]!
        const sends: Array<Promise<unknown>> = []
        for (let n = 0; n < perDevice; n++) {
          const payload = JSON.stringify({ ts: 1_700_000_000_000 + n, n, temp: 20 + n / 100 })
          sends.push(c.publishAsync(`devices/${id}/telemetry`, payload, { qos }))
        }
        await Promise.all(sends)
        // An opaque binary payload has no event time; a topic outside devices/ is not a reading.
        await c.publishAsync(`devices/${id}/blob`, Buffer.from([0, 1, 2, 255]), { qos: 1 })
        await c.publishAsync('plain/other', 'not a reading', { qos: 1 })
        await c.endAsync()
      })
    )
    const status = await gw.status()
    assert.equal(status.counters.stored, devices.length * (perDevice + 1))
    assert.equal(status.backlog.readings, devices.length * (perDevice + 1))
  } finally {
    assert.equal(await gw.stop(), 0)
  }

  const rows = readBuffer(gw.dataDir)
  assert.equal(rows.length, devices.length * (perDevice + 1))
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i]!.seq > rows[i - 1]!.seq, 'sequence strictly increasing')
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i]!.recv_ms >= rows[i - 1]!.recv_ms, 'receive times ordered')
  for (const [di, id] of devices.entries()) {
    const mine = rows.filter(r => r.device === id && r.topic.endsWith('/telemetry'))
    assert.deepEqual(
      mine.map(r => JSON.parse(r.payload.toString()).n),
      [...Array(perDevice).keys()],
      `${id}: every reading once, in publish order`
    )
    for (const r of mine) {
      const doc = JSON.parse(r.payload.toString())
      assert.equal(r.topic, `devices/${id}/telemetry`)
      assert.equal(r.event_ms, doc.ts, 'event time taken from the payload')
      assert.equal(r.qos, di)
      assert.ok(r.recv_ms >= t0 && r.recv_ms <= Date.now(), 'receive time is the gateway clock')
    }
    const blob = rows.find(r => r.device === id && r.topic.endsWith('/blob'))!
    assert.deepEqual([...blob.payload], [0, 1, 2, 255], 'payload bytes kept exactly')
    assert.equal(blob.event_ms, null)
  }
  assert.ok(!rows.some(r => r.topic === 'plain/other'))
})

test('sequence numbers keep increasing across a restart', async () => {
  const gw = await GatewayProcess.start()
  const publish = async (n: number): Promise<void> => {
    const c = await mqtt.connectAsync(gw.url, { clientId: 'seq-dev' })
    for (let i = 0; i < n; i++) await c.publishAsync('devices/seq-dev/t', `{"n":${i}}`, { qos: 1 })
    await c.endAsync()
  }
  await publish(5)
  await gw.stop()
  await gw.launch()
  await publish(5)
  await gw.stop()
  const seqs = readBuffer(gw.dataDir).map(r => r.seq)
  assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
})
