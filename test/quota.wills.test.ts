import { test } from 'node:test'
import assert from 'node:assert/strict'
import { GatewayProcess } from './harness/gateway.js'
import { devicesConfig, secretOf, sleep, writeConfig } from './harness/devices.js'
import { openRaw, packet, str } from './harness/mqtt-raw.js'

// An attack found it: wills skipped the rate quota (no socket to slow), so a device reconnecting in a
// loop, each connection with a will, stored readings several times faster than its quota allowed.

/** MQTT 3.1.1 CONNECT with a QoS 1 will. */
function connectWithWill(id: string, willTopic: string, will: string): Buffer {
  const flags = 0x02 | 0x04 | (1 << 3) | 0x80 | 0x40
  return packet(
    0x10,
    Buffer.concat([
      Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, flags, 0, 30]),
      str(id),
      str(willTopic),
      str(will),
      str(id),
      str(secretOf(id))
    ])
  )
}

test("wills take the device's rate tokens: past its burst they are dropped and counted, not stored", async () => {
  const config = writeConfig({ devices: await devicesConfig(['will-1']), quota: { msgsPerS: 0.5, msgsBurst: 3 } })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    for (let i = 0; i < 10; i++) {
      const raw = await openRaw(gw.mqttPort)
      raw.socket.write(connectWithWill('will-1', 'devices/will-1/status', `{"gone":${i}}`))
      const deadline = Date.now() + 5000
      while (Buffer.concat(raw.received).length < 4 && Date.now() < deadline) await sleep(5)
      assert.equal(Buffer.concat(raw.received)[3], 0, 'logged in')
      raw.socket.destroy()
      await raw.closed
    }
    await sleep(500)
    const st = await gw.status()
    const dev = st.devices.find((d: { id: string }) => d.id === 'will-1')
    assert.ok(
      st.counters.stored >= 3 && st.counters.stored <= 5,
      `burst 3 (+ at most 2 refilled): ${st.counters.stored}`
    )
    assert.equal(st.counters.stored + st.counters.dropped.will_rate_limited, 10, 'every will stored or counted')
    assert.ok(dev.dropped.will_rate_limited >= 5, 'counted for the device')
    await gw.waitForLog(/"code":"HF_ERR_WILL_RATE"/)
  } finally {
    await gw.stop()
  }
})
