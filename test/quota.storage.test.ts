import { test } from 'node:test'
import assert from 'node:assert/strict'
import type mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import { connectAs, devicesConfig, writeConfig } from './harness/devices.js'

/** A reading of exactly `rowBytes` buffer bytes (payload + topic + 40): the arithmetic below is exact. */
function reading(topic: string, n: number, rowBytes = 1024): Buffer {
  const head = `{"ts":${1_700_000_000_000 + n},"n":${n},"pad":"`
  const padLen = rowBytes - 40 - topic.length - head.length - 2
  return Buffer.from(head + 'x'.repeat(padLen) + '"}')
}

/** Publish readings from..to-1 with up to `window` in flight; resolves with how many were acknowledged. */
async function publishRange(c: mqtt.MqttClient, topic: string, from: number, to: number, window = 20): Promise<number> {
  let next = from
  let acked = 0
  const worker = async (): Promise<void> => {
    while (next < to) {
      const n = next++
      await c.publishAsync(topic, reading(topic, n), { qos: 1 })
      acked++
    }
  }
  await Promise.all(Array.from({ length: window }, worker))
  return acked
}

/** Publish one by one until the gateway refuses one (closing the connection); returns [acked, refused n]. */
async function publishUntilRefused(
  c: mqtt.MqttClient,
  topic: string,
  from: number,
  max: number
): Promise<[number, number | null]> {
  const closed = new Promise<'closed'>(resolve => c.once('close', () => resolve('closed')))
  for (let n = from; n < from + max; n++) {
    const r = await Promise.race([
      c.publishAsync(topic, reading(topic, n), { qos: 1 }).then(
        () => 'acked' as const,
        () => 'closed' as const
      ),
      closed
    ])
    if (r === 'closed') return [n - from, n]
  }
  return [max, null]
}

const ns = (rows: ReturnType<typeof readBuffer>, device: string): number[] =>
  rows.filter(r => r.device === device).map(r => JSON.parse(r.payload.toString()).n as number)
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i)

test('per-device storage quotas: drop-oldest keeps the newest readings, reject-new refuses and keeps what it has', async () => {
  const config = writeConfig({
    devices: await devicesConfig(['tele-1', 'audit-1'], id => ({
      quota: { maxBufferedReadings: 100 },
      storagePolicy: id.startsWith('tele') ? 'drop-oldest' : 'reject-new'
    }))
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    const tele = await connectAs(gw.url, 'tele-1')
    assert.equal(await publishRange(tele, 'devices/tele-1/t', 0, 150), 150, 'drop-oldest acknowledges every reading')
    await tele.endAsync()

    const audit = await connectAs(gw.url, 'audit-1')
    const [acked, refusedN] = await publishUntilRefused(audit, 'devices/audit-1/t', 0, 150)
    assert.equal(acked, 100)
    assert.equal(refusedN, 100, 'the 101st reading is refused and never acknowledged')
    audit.end(true)
    // It comes back and tries again: refused again, counted again, its data untouched.
    const again = await connectAs(gw.url, 'audit-1')
    assert.deepEqual(await publishUntilRefused(again, 'devices/audit-1/t', 100, 5), [0, 100])
    again.end(true)

    const s = await gw.status()
    const t = s.devices.find((d: any) => d.id === 'tele-1')
    const a = s.devices.find((d: any) => d.id === 'audit-1')
    assert.deepEqual([t.received, t.stored, t.dropped.quota_drop_oldest, t.buffered], [150, 150, 50, 100])
    assert.deepEqual(t.quota.limits.storagePolicy, 'drop-oldest')
    assert.deepEqual([t.quota.usage.bufferedReadings, t.quota.drops.quota_drop_oldest], [100, 50])
    assert.deepEqual([a.received, a.stored, a.dropped.quota_storage ?? 0, a.buffered], [102, 100, 2, 100])
    assert.deepEqual([a.quota.limits.maxBufferedReadings, a.quota.drops.quota_storage], [100, 2])
    assert.equal(s.counters.dropped.quota_drop_oldest, 50)
    assert.equal(s.counters.dropped.quota_storage, 2)
    await gw.waitForLog(/"code":"HF_ERR_QUOTA_STORAGE"/)
  } finally {
    await gw.stop()
  }
  const rows = readBuffer(gw.dataDir)
  assert.deepEqual(ns(rows, 'tele-1'), range(50, 150), 'drop-oldest kept exactly the newest 100, in order')
  assert.deepEqual(ns(rows, 'audit-1'), range(0, 100), 'reject-new kept exactly its first 100')
})

test('the gateway disk budget: shared fairly, drop-oldest gives way, reject-new is refused at its fair share, exact counts', async () => {
  // 1 MiB budget = 1024 readings of 1024 bytes. No per-device quotas: only the gateway-wide budget.
  const config = writeConfig({
    store: { maxBytes: 1024 * 1024, minFreeBytes: 0 },
    devices: await devicesConfig(['tele-2', 'audit-2'], id => ({
      storagePolicy: id.startsWith('tele') ? 'drop-oldest' : 'reject-new'
    }))
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    const audit = await connectAs(gw.url, 'audit-2')
    assert.equal(await publishRange(audit, 'devices/audit-2/t', 0, 300, 1), 300)

    // tele-2 fills the rest (724) and then pays for its own excess: 276 of its oldest go.
    const tele = await connectAs(gw.url, 'tele-2')
    assert.equal(await publishRange(tele, 'devices/tele-2/t', 0, 1000), 1000)
    await tele.endAsync()
    let s = await gw.status()
    assert.equal(s.backlog.bytes, 1024 * 1024)
    assert.equal(s.devices.find((d: any) => d.id === 'tele-2').dropped.disk_drop_oldest, 276)

    // audit-2 may grow while tele-2 holds more than it (tele-2's oldest give way), up to an even split.
    const [acked, refusedN] = await publishUntilRefused(audit, 'devices/audit-2/t', 300, 400)
    assert.equal(acked, 212)
    assert.equal(refusedN, 512)
    audit.end(true)

    s = await gw.status()
    const t = s.devices.find((d: any) => d.id === 'tele-2')
    const a = s.devices.find((d: any) => d.id === 'audit-2')
    assert.deepEqual([t.received, t.stored, t.dropped.disk_drop_oldest, t.buffered], [1000, 1000, 488, 512])
    assert.deepEqual([a.received, a.stored, a.dropped.disk_budget, a.buffered], [513, 512, 1, 512])
    assert.equal(s.backlog.bytes, 1024 * 1024, 'never past the budget')
    assert.equal(s.counters.received, s.counters.stored + s.counters.dropped.disk_budget)
    assert.equal((await fetch(`${gw.http}/readyz`)).status, 200, 'a full budget is no failure')
    await gw.waitForLog(/"code":"HF_ERR_DISK_BUDGET"/)
  } finally {
    await gw.stop()
  }
  const rows = readBuffer(gw.dataDir)
  assert.deepEqual(ns(rows, 'tele-2'), range(488, 1000))
  assert.deepEqual(ns(rows, 'audit-2'), range(0, 512))
})

test('a data volume short of store.minFreeBytes refuses readings (counted) and keeps running', async () => {
  const config = writeConfig({
    store: { minFreeBytes: Number.MAX_SAFE_INTEGER },
    devices: await devicesConfig(['tele-3'])
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    await new Promise(resolve => setTimeout(resolve, 300))
    const c = await connectAs(gw.url, 'tele-3')
    assert.deepEqual(await publishUntilRefused(c, 'devices/tele-3/t', 0, 3), [0, 0])
    c.end(true)
    const s = await gw.status()
    assert.equal(s.counters.dropped.disk_budget, 1)
    assert.equal(s.backlog.readings, 0)
    assert.equal((await fetch(`${gw.http}/healthz`)).status, 200)
  } finally {
    await gw.stop()
  }
})
