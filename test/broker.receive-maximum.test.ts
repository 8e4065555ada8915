import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { GatewayProcess } from './harness/gateway.js'
import { connectPacket, openRaw, packet, packetsIn, str, varint, type Raw } from './harness/mqtt-raw.js'
import { sleep } from './harness/devices.js'

// Found by the Eclipse Paho MQTT 5 interoperability suite (test_flow_control2): QoS 2 publishes sent in
// one burst were all admitted past the Receive Maximum, because only those aedes had already stored
// were counted; then each one past it sent a DISCONNECT of its own, and PUBRECs followed them.
let gw: GatewayProcess
before(async () => {
  gw = await GatewayProcess.start({ anonymous: true })
})
after(async () => {
  await gw.stop()
})

const PUBREC = 5
const DISCONNECT = 14

function qos2Burst(version: 4 | 5, topic: string, n: number): Buffer {
  const props = version === 5 ? varint(0) : Buffer.alloc(0)
  const one = (id: number): Buffer =>
    packet(0x34, Buffer.concat([str(topic), Buffer.from([id >> 8, id & 0xff]), props, Buffer.from(`{"n":${id}}`)]))
  return Buffer.concat(Array.from({ length: n }, (_, k) => one(k + 1)))
}

async function login(version: 4 | 5, clientId: string): Promise<Raw> {
  const raw = await openRaw(gw.mqttPort)
  // Anonymous (no user name): MQTT 5 CONNECT with clean start and no properties.
  const connect5 = packet(
    0x10,
    Buffer.concat([Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 5, 0x02, 0, 30, 0]), str(clientId)])
  )
  raw.socket.write(version === 5 ? connect5 : connectPacket(clientId))
  const deadline = Date.now() + 5000
  while (Buffer.concat(raw.received).length < 4 && Date.now() < deadline) await sleep(10)
  const connack = Buffer.concat(raw.received)
  assert.equal(connack[0], 0x20, 'CONNACK')
  assert.equal(connack[3], 0, 'accepted')
  raw.received.length = 0
  return raw
}

for (const topic of ['plant/line-1/qos2', 'devices/burst-1/telemetry']) {
  test(`MQTT 5: a burst of QoS 2 past the Receive Maximum (${topic}) gets one DISCONNECT 0x93, nothing after it, counted once`, async () => {
    const before = (await gw.status()).counters.refused.receive_maximum ?? 0
    const raw = await login(5, `burst-${topic.length}`)
    raw.socket.write(qos2Burst(5, topic, 200))
    await raw.closed
    const got = packetsIn(Buffer.concat(raw.received))
    const disconnects = got.filter(p => p.type === DISCONNECT)
    assert.deepEqual(disconnects, [{ type: DISCONNECT, reason: 0x93 }], 'exactly one DISCONNECT, 0x93')
    assert.equal(got.at(-1)?.type, DISCONNECT, 'the DISCONNECT is the last packet')
    assert.ok(got.filter(p => p.type === PUBREC).length <= 64, 'no more than the Receive Maximum admitted')
    assert.equal((await gw.status()).counters.refused.receive_maximum, before + 1)
  })
}

test('MQTT 3.1.1: at most 1000 unreleased QoS 2 publishes, even in one burst', async () => {
  const full = await login(4, 'burst-v3-ok')
  full.socket.write(qos2Burst(4, 'plant/line-2/qos2', 1000))
  const deadline = Date.now() + 10_000
  while (packetsIn(Buffer.concat(full.received)).length < 1000 && Date.now() < deadline) await sleep(20)
  assert.equal(packetsIn(Buffer.concat(full.received)).filter(p => p.type === PUBREC).length, 1000)
  await sleep(300)
  full.socket.destroy()

  const over = await login(4, 'burst-v3-over')
  over.socket.write(qos2Burst(4, 'plant/line-3/qos2', 1001))
  await over.closed
  assert.ok(packetsIn(Buffer.concat(over.received)).filter(p => p.type === PUBREC).length <= 1000)
})
