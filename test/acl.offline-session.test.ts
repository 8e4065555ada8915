import { test } from 'node:test'
import assert from 'node:assert/strict'
import type mqtt from 'mqtt'
import { connectAs, connectCollecting, gatewayWithOps, sleep } from './harness/devices.js'

// An attack found it: one SUBSCRIBE with an allowed filter and refused ones, from a persistent session.
// The SUBACK refused the foreign filters, but aedes stored every filter of the packet with the allowed
// one, so while the device was away other devices' commands and readings were queued for it and
// delivered when it came back (patches/aedes+2.0.0-beta.1.patch, handlers/subscribe.js).
for (const protocolVersion of [4, 5] as const) {
  test(`MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}: filters refused in a SUBSCRIBE are not kept for the persistent session, so nothing foreign is queued for it`, async () => {
    const gw = await gatewayWithOps(['spy-1', 'victim-1'])
    try {
      const session: mqtt.IClientOptions =
        protocolVersion === 5
          ? { protocolVersion, clean: false, properties: { sessionExpiryInterval: 600 } }
          : { protocolVersion, clean: false }
      const spy = await connectAs(gw.url, 'spy-1', session)
      // mqtt.js rejects a SUBACK that refuses any filter; the codes are on the packet it carries.
      const suback = await spy
        .subscribeAsync(
          {
            'devices/spy-1/cmd/#': { qos: 1 },
            'devices/victim-1/cmd/#': { qos: 1 },
            'devices/+/telemetry': { qos: 1 },
            '#': { qos: 1 }
          },
          protocolVersion === 5 ? { properties: {} } : {}
        )
        .then(
          () => null,
          (err: { packet?: { granted?: number[]; reasonCode?: number[] } }) => err.packet ?? null
        )
      const refused = protocolVersion === 5 ? 0x87 : 128
      assert.deepEqual(suback?.granted ?? suback?.reasonCode, [1, refused, refused, refused])
      await spy.endAsync()

      // While the spy is away: a command for the victim, the victim's reading, and one for the spy.
      const ops = await connectAs(gw.url, 'ops', { clientId: 'ops-1', password: 'ops-secret' })
      await ops.publishAsync('devices/victim-1/cmd/door', 'code 4711', { qos: 1 })
      const victim = await connectAs(gw.url, 'victim-1')
      await victim.publishAsync('devices/victim-1/telemetry', '{"t":1}', { qos: 1 })
      await ops.publishAsync('devices/spy-1/cmd/ping', 'own', { qos: 1 })
      await Promise.all([ops.endAsync(), victim.endAsync()])

      const { client: back, got } = await connectCollecting(gw.url, 'spy-1', session)
      await sleep(1500)
      await back.endAsync()
      assert.deepEqual(
        got.map(m => m.topic),
        ['devices/spy-1/cmd/ping'],
        'only its own command was queued for the session'
      )
      const st = await gw.status()
      assert.ok(st.counters.refused.acl_subscribe >= 3, 'the refused filters are counted')
    } finally {
      await gw.stop()
    }
  })
}

test('an app may write only to provisioned devices: a command to an unknown id is refused and makes no device', async () => {
  const gw = await gatewayWithOps(['real-1'])
  try {
    const ops = await connectAs(gw.url, 'ops', { clientId: 'ops-1', password: 'ops-secret', protocolVersion: 5 })
    await ops.publishAsync('devices/real-1/cmd/x', 'ok', { qos: 1 })
    const refused = await ops.publishAsync('devices/ghost-9/cmd/x', 'no', { qos: 1 }).then(
      () => null,
      (err: { code?: number }) => err.code ?? -1
    )
    assert.equal(refused, 0x87, 'PUBACK 0x87 Not authorized')
    await ops.endAsync()
    const st = await gw.status()
    assert.equal(
      st.devices.some((d: { id: string }) => d.id === 'ghost-9'),
      false,
      'no device was made of the unknown id'
    )
    assert.equal(st.counters.dropped.acl_denied, 1)
  } finally {
    await gw.stop()
  }
})
