import { test } from 'node:test'
import assert from 'node:assert/strict'
import { GatewayProcess } from './harness/gateway.js'
import { connectAs, devicesConfig, secretOf, writeConfig } from './harness/devices.js'
import { packet, publishPacket, rawLogin } from './harness/mqtt-raw.js'

// The fuzz run found it: two PUBRELs for one QoS 2 id, sent together, both found the stored packet;
// the second delete rejected and aedes re-raised it as an unhandled rejection that killed the gateway
// (patches/aedes+2.0.0-beta.1.patch, handlers/pubrel.js).
const pubrel = (id: number): Buffer => packet(0x62, Buffer.from([id >> 8, id & 0xff]))

test('PUBREL sent twice at once for the same QoS 2 ids: each gets PUBCOMP, the reading is stored once, the gateway keeps serving', async () => {
  const config = writeConfig({ devices: await devicesConfig(['rel-1', 'ok-1']) })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  let exit: number | null = null
  const ids = 40
  try {
    const { raw, code } = await rawLogin(gw.mqttPort, 'rel-1', 'rel-1', secretOf('rel-1'))
    assert.equal(code, 0, 'logged in')
    const publishes = Array.from({ length: ids }, (_, i) =>
      publishPacket('devices/rel-1/telemetry', `{"n":${i}}`, 2, i + 1)
    )
    raw.socket.write(Buffer.concat(publishes))
    const pubrecs = async (): Promise<number> => {
      const deadline = Date.now() + 5000
      for (;;) {
        const all = Buffer.concat(raw.received)
        let n = 0
        for (let i = 0; i + 4 <= all.length; i += 4) if (all[i] === 0x50) n++
        if (n >= ids || Date.now() > deadline) return n
        await new Promise(r => setTimeout(r, 10))
      }
    }
    assert.equal(await pubrecs(), ids, 'every QoS 2 publish got its PUBREC')
    raw.received.length = 0
    // Each id released twice in one write, so both PUBRELs are in flight together.
    const twice = Array.from({ length: ids }, (_, i) => Buffer.concat([pubrel(i + 1), pubrel(i + 1)]))
    raw.socket.write(Buffer.concat(twice))
    const deadline = Date.now() + 5000
    let comps = 0
    while (Date.now() < deadline) {
      const all = Buffer.concat(raw.received)
      comps = 0
      for (let i = 0; i + 4 <= all.length; i += 4) if (all[i] === 0x70) comps++
      if (comps >= 2 * ids) break
      await new Promise(r => setTimeout(r, 10))
    }
    assert.equal(comps, 2 * ids, 'every PUBREL got its PUBCOMP [MQTT-4.3.3-11]')
    raw.socket.destroy()

    const c = await connectAs(gw.url, 'ok-1')
    await c.publishAsync('devices/ok-1/telemetry', '{"n":1}', { qos: 1 })
    await c.endAsync()
    const st = await gw.status()
    assert.equal(st.counters.stored, ids + 1, 'each QoS 2 reading stored once, and the later one too')
  } finally {
    exit = await gw.stop()
  }
  assert.equal(exit, 0, 'the gateway stopped cleanly, it never crashed')
})
