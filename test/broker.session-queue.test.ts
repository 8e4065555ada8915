import { test } from 'node:test'
import assert from 'node:assert/strict'
import { GatewayProcess } from './harness/gateway.js'
import { parsePrometheusText, valueOf } from './harness/prometheus.js'
import {
  connectAs,
  connectCollecting,
  devicesConfig,
  eventually,
  gatewayWithOps,
  sleep,
  writeConfig
} from './harness/devices.js'

// An attack found it: a persistent session's queue grew without bound while the device was away (or
// while it flooded its own commands), and nothing was counted. Now it holds at most 1000 messages.
const LIMIT = 1000

/** A device's (or app account's) refusals by reason, as /api/status shows them. */
function refusedOf(st: any, id: string): Record<string, number> {
  const who = [...st.devices, ...st.apps].find((d: { id: string }) => d.id === id)
  return who?.refused ?? {}
}

test('a persistent session away holds at most 1000 queued messages; the rest are counted, and it gets the 1000 on resume', async () => {
  const gw = await gatewayWithOps(['away-1'])
  try {
    const dev = await connectAs(gw.url, 'away-1', { clean: false })
    await dev.subscribeAsync('devices/away-1/cmd/#', { qos: 1 })
    await dev.endAsync()

    const ops = await connectAs(gw.url, 'ops', { clientId: 'ops-1', password: 'ops-secret' })
    const extra = 25
    for (let i = 0; i < LIMIT + extra; i++) await ops.publishAsync('devices/away-1/cmd/set', `{"n":${i}}`, { qos: 1 })
    await ops.endAsync()
    const st = await gw.status()
    assert.equal(st.counters.refused.forward_queue_full, extra, 'each message past the limit counted')
    assert.equal(refusedOf(st, 'away-1').forward_queue_full, extra, 'and counted for the device whose session it is')
    assert.equal(refusedOf(st, 'ops').forward_queue_full, undefined, 'not for the app that published them')
    const metrics = parsePrometheusText(await (await fetch(`${gw.http}/metrics`)).text())
    assert.equal(
      valueOf(metrics, 'holdfast_device_refused_total', { device: 'away-1', reason: 'forward_queue_full' }),
      extra
    )
    await gw.waitForLog(/"code":"HF_ERR_FORWARD_QUEUE_FULL"/)

    const { client: back, got: msgs } = await connectCollecting(gw.url, 'away-1', { clean: false })
    const got = (): number[] => msgs.map(m => JSON.parse(m.payload).n)
    const deadline = Date.now() + 15_000
    while (msgs.length < LIMIT && Date.now() < deadline) await sleep(50)
    await sleep(300)
    await back.endAsync()
    assert.equal(msgs.length, LIMIT, 'the queued ones arrive')
    assert.deepEqual(got().slice(0, 3), [0, 1, 2], 'oldest first: the newest were the ones not queued')
  } finally {
    await gw.stop()
  }
})

test('a persistent session away holds at most mqtt.sessionQueueMaxBytes (1 MiB) of messages; the rest are counted for its device', async () => {
  const gw = await gatewayWithOps(['bulky-1'])
  try {
    const dev = await connectAs(gw.url, 'bulky-1', { clean: false })
    await dev.subscribeAsync('devices/bulky-1/cmd/#', { qos: 1 })
    await dev.endAsync()

    // 15 commands of 100 KiB: ten fit in 1 MiB (with their topics), five do not, well under 1000 messages.
    const ops = await connectAs(gw.url, 'ops', { clientId: 'ops-1', password: 'ops-secret' })
    const topic = 'devices/bulky-1/cmd/blob'
    const big = (i: number): string => JSON.stringify({ n: i, pad: 'x'.repeat(100 * 1024 - 20) }).slice(0, 100 * 1024)
    for (let i = 0; i < 15; i++) await ops.publishAsync(topic, big(i), { qos: 1 })
    await ops.endAsync()
    const fits = Math.floor((1024 * 1024) / (100 * 1024 + topic.length))
    const st = await gw.status()
    assert.equal(st.counters.refused.forward_queue_full, 15 - fits, 'each message past the byte cap counted')
    assert.equal(refusedOf(st, 'bulky-1').forward_queue_full, 15 - fits, 'for the device whose session it is')
    await gw.waitForLog(/"code":"HF_ERR_FORWARD_QUEUE_FULL".*"over":"bytes"/)

    const { client: back, got } = await connectCollecting(gw.url, 'bulky-1', { clean: false })
    const deadline = Date.now() + 15_000
    while (got.length < fits && Date.now() < deadline) await sleep(50)
    await sleep(300)
    await back.endAsync()
    assert.equal(got.length, fits, 'the queued ones arrive')
    assert.deepEqual(
      got.slice(0, 3).map(m => m.payload.slice(0, 8)),
      ['{"n":0,"', '{"n":1,"', '{"n":2,"'],
      'oldest first'
    )
  } finally {
    await gw.stop()
  }
})

test('a device keeps at most 16 persistent sessions: the 17th client id ends its oldest idle one, counted, and messages stop queueing for it', async () => {
  const gw = await gatewayWithOps(['many-1'])
  try {
    for (let i = 1; i <= 17; i++) {
      const c = await connectAs(gw.url, 'many-1', { clientId: `many-1-s${i}`, clean: false })
      await c.subscribeAsync('devices/many-1/cmd/#', { qos: 1 })
      await c.endAsync()
    }
    const st = await gw.status()
    assert.equal(st.counters.refused.session_evicted, 1)
    assert.equal(refusedOf(st, 'many-1').session_evicted, 1, 'counted for the device')
    // The log line may reach the harness after the counter is visible.
    await eventually(
      () => /"code":"HF_WARN_SESSION_EVICTED","client":"many-1-s1"/.test(gw.log()),
      5000,
      'the eviction logged'
    )

    const ops = await connectAs(gw.url, 'ops', { clientId: 'ops-1', password: 'ops-secret' })
    await ops.publishAsync('devices/many-1/cmd/x', 'hello', { qos: 1 })
    await ops.endAsync()
    const received = async (clientId: string): Promise<string[]> => {
      const { client, got } = await connectCollecting(gw.url, 'many-1', { clientId, clean: false })
      await sleep(500)
      await client.endAsync()
      return got.map(m => m.payload)
    }
    assert.deepEqual(await received('many-1-s2'), ['hello'], 'a kept session got it queued')
    assert.deepEqual(await received('many-1-s1'), [], 'the ended one had nothing queued: it starts afresh')

    // An app account's sessions are capped alike, and counted for the app.
    for (let i = 1; i <= 17; i++) {
      const c = await connectAs(gw.url, 'ops', { clientId: `ops-s${i}`, password: 'ops-secret', clean: false })
      await c.endAsync()
    }
    const after = await gw.status()
    // many-1-s1 came back above as a 17th session again: one more of many-1's ended then.
    assert.equal(after.counters.refused.session_evicted, 3)
    assert.equal(refusedOf(after, 'ops').session_evicted, 1, 'counted for the app in apps[]')
    assert.equal(refusedOf(after, 'many-1').session_evicted, 2)
  } finally {
    await gw.stop()
  }
})

test('past mqtt.maxExpiringSessions a leaving MQTT 5 session ends at once, and that is counted and logged', async () => {
  const config = writeConfig({
    devices: await devicesConfig(['exp-1', 'exp-2', 'exp-3']),
    mqtt: { maxExpiringSessions: 2 }
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    for (const id of ['exp-1', 'exp-2', 'exp-3']) {
      const c = await connectAs(gw.url, id, { protocolVersion: 5, properties: { sessionExpiryInterval: 600 } })
      await c.endAsync()
    }
    await sleep(300)
    const st = await gw.status()
    assert.equal(st.counters.refused.session_evicted, 1)
    assert.equal(refusedOf(st, 'exp-3').session_evicted, 1, 'counted for the device whose session ended')
    assert.equal(refusedOf(st, 'exp-1').session_evicted, undefined)
    await eventually(
      () => /"code":"HF_WARN_SESSION_EVICTED","client":"exp-3"/.test(gw.log()),
      5000,
      'the eviction logged'
    )
  } finally {
    await gw.stop()
  }
})

test('the cap is for sessions that are away: a connected persistent subscriber gets a burst of 3000 in full, and stays connected', async () => {
  const gw = await gatewayWithOps(['burst-1'])
  try {
    const { client: dev, got } = await connectCollecting(gw.url, 'burst-1', { clean: false })
    await dev.subscribeAsync('devices/burst-1/cmd/#', { qos: 1 })
    let closed = false
    dev.on('close', () => {
      closed = true
    })
    const ops = await connectAs(gw.url, 'ops', { clientId: 'ops-1', password: 'ops-secret' })
    const N = 3000
    await Promise.all(
      Array.from({ length: N }, (_, i) => ops.publishAsync('devices/burst-1/cmd/set', `{"n":${i}}`, { qos: 1 }))
    )
    await ops.endAsync()
    const deadline = Date.now() + 20_000
    while (got.length < N && Date.now() < deadline) await sleep(50)
    assert.equal(got.length, N, 'every message arrived')
    assert.equal(closed, false, 'the subscriber was not disconnected')
    await dev.endAsync()
    const st = await gw.status()
    assert.equal(st.counters.refused.forward_queue_full, 0)
    assert.equal(st.counters.refused.protocol_error ?? 0, 0)
  } finally {
    await gw.stop()
  }
})
