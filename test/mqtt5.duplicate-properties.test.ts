import { test } from 'node:test'
import assert from 'node:assert/strict'
import { GatewayProcess } from './harness/gateway.js'
import { connectAs, devicesConfig, secretOf, writeConfig } from './harness/devices.js'
import { closesWithin, connect5Packet, openRaw, packet, rawLogin } from './harness/mqtt-raw.js'

// A property given twice is a Protocol Error [MQTT-2.2.2-1] (only User Property may repeat). mqtt-packet
// used to turn it into an array, and a doubled Session Expiry Interval on DISCONNECT crashed the gateway
// when the session's expiry timer was armed with NaN (patches/mqtt-packet+9.0.2.patch).
const sessionExpiry = (s: number): Buffer =>
  Buffer.from([0x11, s >>> 24, (s >>> 16) & 0xff, (s >>> 8) & 0xff, s & 0xff])

test('a property given twice closes that connection as a protocol error; the gateway keeps serving', async () => {
  const config = writeConfig({ devices: await devicesConfig(['dup-1', 'dup-2', 'ok-1']) })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  let exit: number | null = null
  try {
    // Twice in CONNECT: refused before any session exists.
    const twice = Buffer.concat([sessionExpiry(60), sessionExpiry(120)])
    const raw1 = await openRaw(gw.mqttPort)
    raw1.socket.write(connect5Packet('dup-1', 'dup-1', secretOf('dup-1'), twice))
    assert.ok(await closesWithin(raw1, 5000), 'a CONNECT with a doubled property is closed')

    // Twice in DISCONNECT, after a good MQTT 5 login with a session that outlives the connection.
    const raw2 = await openRaw(gw.mqttPort)
    raw2.socket.write(connect5Packet('dup-2', 'dup-2', secretOf('dup-2'), sessionExpiry(60)))
    const deadline = Date.now() + 5000
    while (Buffer.concat(raw2.received).length < 4 && Date.now() < deadline) await new Promise(r => setTimeout(r, 10))
    assert.equal(Buffer.concat(raw2.received)[0], 0x20, 'CONNACK')
    assert.equal(Buffer.concat(raw2.received)[3], 0, 'logged in')
    const props = Buffer.concat([sessionExpiry(5), sessionExpiry(6)])
    raw2.socket.write(packet(0xe0, Buffer.concat([Buffer.from([0x00, props.length]), props])))
    assert.ok(await closesWithin(raw2, 5000), 'the connection ends')

    // Still alive and storing: another device logs in and gets its PUBACK.
    const c = await connectAs(gw.url, 'ok-1')
    await c.publishAsync('devices/ok-1/telemetry', '{"n":1}', { qos: 1 })
    await c.endAsync()
    const st = await gw.status()
    assert.ok(st.counters.refused.protocol_error >= 1, 'counted as protocol errors')
    assert.equal(st.counters.stored, 1)
    const { raw, code } = await rawLogin(gw.mqttPort, 'ok-1', 'ok-1', secretOf('ok-1'))
    assert.equal(code, 0, 'logins still work')
    raw.socket.destroy()
  } finally {
    exit = await gw.stop()
  }
  assert.equal(exit, 0, 'the gateway stopped cleanly, it never crashed')
})
