import { test } from 'node:test'
import assert from 'node:assert/strict'
import { GatewayProcess } from './harness/gateway.js'
import { connectAs, devicesConfig, eventually, secretOf, sleep, writeConfig } from './harness/devices.js'
import { connectPacket, openRaw, publishPacket, subscribePacket } from './harness/mqtt-raw.js'

// An attack found it: a clean session cycling SUBSCRIBE/UNSUBSCRIBE of thousands of filters kept the
// broker's thread busy and raised every other device's PUBACK latency. Now filters per second are a
// per-device (and per-app) quota: over it the packets are held, like publishes over the rate quota.

test('SUBSCRIBE/UNSUBSCRIBE over the subscription rate quota are held, counted per device, and all succeed; another device is acknowledged meanwhile', async () => {
  const config = writeConfig({
    devices: await devicesConfig(['cycler-1', 'steady-1']),
    quota: { subscribeFiltersPerS: 30, subscribeFiltersBurst: 20 }
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    const cycler = await connectAs(gw.url, 'cycler-1')
    const steady = await connectAs(gw.url, 'steady-1')
    // 10 rounds of SUBSCRIBE and UNSUBSCRIBE of 10 filters: 200 filters, at least 6 s at 30 a second.
    const rounds = Array.from({ length: 10 }, (_, r) => {
      const filters = Array.from({ length: 10 }, (_, i) => `devices/cycler-1/cmd/r${r}/f${i}`)
      return [cycler.subscribeAsync(filters, { qos: 1 }), cycler.unsubscribeAsync(filters)] as const
    })
    let cyclingDone = false
    const cycling = Promise.all(rounds.flat()).then(results => {
      cyclingDone = true
      return results
    })

    // Meanwhile another device's readings are acknowledged (QoS 1) and stored.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => steady.publishAsync('devices/steady-1/telemetry', `{"n":${i}}`, { qos: 1 }))
    )
    assert.equal(cyclingDone, false, "the other device's PUBACKs did not wait for the held subscriptions")

    const results = await cycling
    for (let r = 0; r < rounds.length; r++) {
      const granted = results[2 * r] as Array<{ qos: number }>
      assert.deepEqual(
        granted.map(g => g.qos),
        Array(10).fill(1),
        `round ${r}: every filter granted`
      )
    }
    // The last state holds: a final subscription works and gets its message.
    await cycler.subscribeAsync('devices/cycler-1/cmd/last', { qos: 1 })

    const st = await gw.status()
    const of = (id: string) => st.devices.find((d: { id: string }) => d.id === id)
    const held = st.counters.refused.subscribe_rate_limited
    assert.ok(held > 0, 'held packets are counted')
    assert.equal(of('cycler-1').refused.subscribe_rate_limited, held, 'for the device that sent them')
    assert.equal(of('steady-1').refused.subscribe_rate_limited, undefined)
    assert.equal(of('steady-1').stored, 20)
    assert.equal(of('cycler-1').quota.limits.subscribeFiltersPerS, 30)
    assert.equal(st.counters.refused.subscription_limit, 0)
    await gw.waitForLog(/"code":"HF_WARN_SUBSCRIBE_RATE"/)
    const lines = gw
      .log()
      .split('\n')
      .filter(l => l.includes('HF_WARN_SUBSCRIBE_RATE'))
    assert.ok(lines.length < held, 'the log line is throttled: fewer lines than held packets')
    // The verdict reads the last minute's refusals (sampled every second): held packets are none.
    await sleep(2000)
    const problems = (await gw.status()).health.problems as Array<{ code: string }>
    assert.equal(
      problems.some(p => p.code === 'logins_refused'),
      false,
      'held subscriptions are no refused logins'
    )
    await cycler.endAsync()
    await steady.endAsync()
  } finally {
    await gw.stop()
  }
})

// Found by a code review: only the packet over the quota was held, so a PUBLISH after a held SUBSCRIBE
// overtook it, and the message it published to the topic just subscribed never arrived.
test('a packet after a held SUBSCRIBE waits behind it: the subscription is in place when the publish after it is routed', async () => {
  const config = writeConfig({
    devices: await devicesConfig(['order-1']),
    quota: { subscribeFiltersPerS: 1, subscribeFiltersBurst: 1 }
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    const raw = await openRaw(gw.mqttPort)
    raw.socket.write(connectPacket('order-1', 'order-1', secretOf('order-1')))
    await eventually(() => Buffer.concat(raw.received).length >= 4, 5000, 'CONNACK')
    // Spends the burst: the next SUBSCRIBE is held for about a second.
    raw.socket.write(subscribePacket(1, ['devices/order-1/cmd/first']))
    await eventually(() => Buffer.concat(raw.received).includes(Buffer.from([0x90, 3, 0, 1])), 5000, 'SUBACK 1')
    raw.received.length = 0
    // One write: SUBSCRIBE to its commands, then a command to itself (QoS 1).
    raw.socket.write(
      Buffer.concat([
        subscribePacket(2, ['devices/order-1/cmd/#']),
        publishPacket('devices/order-1/cmd/echo', 'hello', 1, 3)
      ])
    )
    await eventually(() => Buffer.concat(raw.received).includes(Buffer.from('hello')), 8000, 'the echo delivered')
    const all = Buffer.concat(raw.received)
    const suback = all.indexOf(Buffer.from([0x90, 3, 0, 2]))
    const puback = all.indexOf(Buffer.from([0x40, 2, 0, 3]))
    assert.ok(suback >= 0 && puback > suback, 'SUBACK 2 before PUBACK 3: handled in order')
    raw.socket.destroy()
  } finally {
    await gw.stop()
  }
})

// Found by a code review: a held SUBSCRIBE had taken its tokens from the device's bucket, and kept
// them when its connection closed, so the device's next connection waited behind a packet nobody would
// ever be answered. At 0.01 filters a second that wait is 100 s per filter: far past this test's waits.
test('a SUBSCRIBE held on a connection that closes gives its tokens back: the next connection is served at once, the packets behind it are dropped', async () => {
  const config = writeConfig({
    devices: await devicesConfig(['churn-1']),
    quota: { subscribeFiltersPerS: 0.01, subscribeFiltersBurst: 3 }
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  const device = async () =>
    (await gw.status()).devices.find((d: { id: string }) => d.id === 'churn-1') as {
      stored?: number
      refused: Record<string, number>
      quota: { usage: { heldSubscribePackets: number; sessions: number } }
    }
  const login = async () => {
    const raw = await openRaw(gw.mqttPort)
    raw.socket.write(connectPacket('churn-1', 'churn-1', secretOf('churn-1')))
    await eventually(() => Buffer.concat(raw.received).length >= 4, 5000, 'CONNACK')
    raw.received.length = 0
    return raw
  }
  const suback = (id: number, filters: number) => Buffer.from([0x90, 2 + filters, 0, id, ...Array(filters).fill(1)])
  try {
    const first = await login()
    // Two of the three tokens, served.
    first.socket.write(subscribePacket(1, ['devices/churn-1/cmd/a', 'devices/churn-1/cmd/b']))
    await eventually(() => Buffer.concat(first.received).includes(suback(1, 2)), 5000, 'SUBACK 1')
    // Two more: held (about 100 s), and a reading behind it.
    first.socket.write(
      Buffer.concat([
        subscribePacket(2, ['devices/churn-1/cmd/c', 'devices/churn-1/cmd/d']),
        publishPacket('devices/churn-1/telemetry', '{"n":1}', 1, 3)
      ])
    )
    await eventually(async () => (await device()).quota.usage.heldSubscribePackets === 1, 5000, 'the SUBSCRIBE held')
    first.socket.destroy()

    // At once, the device again: its one token left is there (the dead connection's two are back).
    const second = await login()
    second.socket.write(subscribePacket(1, ['devices/churn-1/cmd/e']))
    await eventually(
      () => Buffer.concat(second.received).includes(suback(1, 1)),
      5000,
      'SUBACK on the next connection, not held behind the dead one'
    )
    let d = await device()
    assert.equal(d.quota.usage.heldSubscribePackets, 0, 'nothing held any more')
    assert.equal(d.refused.subscribe_rate_limited, 1, 'the one held packet counted, the served one not')
    assert.equal(
      d.stored ?? 0,
      0,
      'the reading behind the held SUBSCRIBE went with its connection (never acknowledged)'
    )
    assert.equal(Buffer.concat(first.received).includes(Buffer.from([0x40, 2, 0, 3])), false, 'no PUBACK for it')

    // Only the held packet's tokens came back: the bucket is empty again, so the next filter is held.
    second.socket.write(subscribePacket(2, ['devices/churn-1/cmd/f']))
    await eventually(async () => (await device()).quota.usage.heldSubscribePackets === 1, 5000, 'the next one held')
    d = await device()
    assert.equal(d.refused.subscribe_rate_limited, 2)
    assert.equal(Buffer.concat(second.received).includes(suback(2, 1)), false)
    second.socket.destroy()
    await eventually(async () => (await device()).quota.usage.heldSubscribePackets === 0, 5000, 'released on close')
  } finally {
    await gw.stop()
  }
})
