import { test } from 'node:test'
import assert from 'node:assert/strict'
import { GatewayProcess } from './harness/gateway.js'
import { connectPacket, openRaw } from './harness/mqtt-raw.js'
import { sleep } from './harness/devices.js'

// With mqtt.serverKeepAliveS set, a 3.1.1 client asking for no keep-alive, or a longer one, cannot be
// told another value, and 3.1.1 has no CONNACK return code for it (aedes sent the reserved 6): the
// connection is closed without CONNACK [MQTT-3.2.2-6] and counted. Found by the Paho 3.1.1 suite.
test('MQTT 3.1.1: a keep-alive of 0 or past mqtt.serverKeepAliveS is closed without CONNACK, counted; a shorter one is accepted', async () => {
  const gw = await GatewayProcess.start({ anonymous: true, args: ['--mqtt-server-keep-alive-s', '60'] })
  try {
    for (const keepalive of [0, 61]) {
      const raw = await openRaw(gw.mqttPort)
      raw.socket.write(connectPacket(`ka-${keepalive}`, undefined, undefined, keepalive))
      await raw.closed
      assert.equal(Buffer.concat(raw.received).length, 0, `keep-alive ${keepalive}: nothing sent back`)
    }
    const ok = await openRaw(gw.mqttPort)
    ok.socket.write(connectPacket('ka-30', undefined, undefined, 30))
    const deadline = Date.now() + 5000
    while (Buffer.concat(ok.received).length < 4 && Date.now() < deadline) await sleep(10)
    assert.deepEqual([...Buffer.concat(ok.received)], [0x20, 2, 0, 0], 'CONNACK, accepted')
    ok.socket.destroy()
    assert.equal((await gw.status()).counters.refused.keepalive_limit, 2)
  } finally {
    await gw.stop()
  }
})
