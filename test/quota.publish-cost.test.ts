import { test } from 'node:test'
import assert from 'node:assert/strict'
import { GatewayProcess } from './harness/gateway.js'
import { connectAs, devicesConfig, eventually, sleep, writeConfig } from './harness/devices.js'

// An attack found it: the rate quota's bytesPerS counted payload bytes only, so an MQTT 5 device sending
// tiny payloads with up to 64 KiB of User Properties each (stored with the reading, carried to Kafka)
// went through it as if it sent a few bytes. Now a publish costs its payload and its properties.
const RATE = 4000
const quota = { bytesPerS: RATE, bytesBurst: RATE, msgsPerS: 1000, msgsBurst: 1000 }
const pad = (n: number): Record<string, string> => ({ pad: 'x'.repeat(n) })

test('an MQTT 5 device sending small payloads with large User Properties is held by bytesPerS: no more stored than its bytes allow', async () => {
  const config = writeConfig({ devices: await devicesConfig(['props-1']), quota })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    const dev = await connectAs(gw.url, 'props-1', { protocolVersion: 5 })
    const N = 6
    const t0 = Date.now()
    // Each costs a little over RATE bytes (4000 of User Properties, a few of payload): one a second.
    const acks = Array.from({ length: N }, (_, i) =>
      dev.publishAsync('devices/props-1/telemetry', `{"n":${i}}`, {
        qos: 1,
        properties: { userProperties: pad(RATE - 4) }
      })
    )
    await sleep(1500)
    const st = await gw.status()
    const elapsedS = (Date.now() - t0) / 1000
    // The bucket holds RATE bytes at the start and earns RATE a second: within elapsedS at most
    // (1 + elapsedS) publishes of more than RATE bytes each can have passed, however slow the machine.
    const d = st.devices.find((x: { id: string }) => x.id === 'props-1')
    assert.ok(st.counters.stored <= Math.floor(1 + elapsedS), `${st.counters.stored} stored in ${elapsedS} s`)
    assert.ok(st.counters.stored < N, 'not all at once')
    assert.ok(d.quota.usage.throttledPublishes >= 1, 'held by the rate quota')
    // Held, not dropped: every one is acknowledged and stored in time.
    await Promise.all(acks)
    const after = await gw.status()
    assert.equal(after.counters.stored, N)
    assert.deepEqual(after.counters.dropped, Object.fromEntries(Object.keys(after.counters.dropped).map(k => [k, 0])))
    await dev.endAsync()
  } finally {
    await gw.stop()
  }
})

test("a will's User Properties count against the device's bytes too: one past its burst is dropped, counted", async () => {
  const config = writeConfig({ devices: await devicesConfig(['will-big', 'will-small']), quota })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    for (const [id, props] of [
      ['will-big', pad(RATE + 2000)],
      ['will-small', pad(100)]
    ] as const) {
      const c = await connectAs(gw.url, id, {
        protocolVersion: 5,
        will: {
          topic: `devices/${id}/status`,
          payload: Buffer.from('bye'),
          qos: 1,
          retain: false,
          properties: { userProperties: props }
        }
      })
      // Gone without DISCONNECT: the will is published.
      c.stream.destroy()
    }
    await eventually(
      async () => {
        const st = await gw.status()
        return st.counters.stored + st.counters.dropped.will_rate_limited === 2
      },
      10_000,
      'both wills handled'
    )
    const st = await gw.status()
    const of = (id: string) => st.devices.find((x: { id: string }) => x.id === id)
    assert.equal(
      of('will-big').dropped.will_rate_limited,
      1,
      'a 3-byte will with 6 KiB of properties is over a 4000-byte burst'
    )
    assert.equal(of('will-small').stored, 1, 'a small one is stored')
    await gw.waitForLog(/"code":"HF_ERR_WILL_RATE"/)
  } finally {
    await gw.stop()
  }
})
