import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { devicesConfig, hashCheap, secretOf, sleep, writeConfig } from './harness/devices.js'
import {
  closesWithin,
  connect5Packet,
  connectPacket,
  openRaw,
  packet,
  publishPacket,
  str,
  varint,
  type Raw
} from './harness/mqtt-raw.js'

// An attack found these: a QoS 2 re-send (same packet id, before PUBREL) was stored a second time under a
// new seq; aedes kept unreleased QoS 2 packets of clean sessions for ever (memory), and a later clean
// session's packet id 1 passed for a re-send of the old one and was never routed.
const DUP = 0x08
const pubrel = (id: number): Buffer => packet(0x62, Buffer.from([id >> 8, id & 0xff]))

/** Packets of one type (first byte) received so far, with their packet ids. */
function idsOf(raw: Raw, type: number): number[] {
  const all = Buffer.concat(raw.received)
  const out: number[] = []
  for (let i = 0; i + 4 <= all.length; ) {
    const len = all[i + 1]!
    if (all[i] === type) out.push((all[i + 2]! << 8) | all[i + 3]!)
    i += 2 + len
  }
  return out
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

async function login(port: number, id: string, clean: boolean): Promise<Raw> {
  const raw = await openRaw(port)
  raw.socket.write(connectPacket(id, id, secretOf(id), 30, clean))
  await until(() => Buffer.concat(raw.received).length >= 4, 'CONNACK')
  assert.equal(Buffer.concat(raw.received)[3], 0, `${id} logged in`)
  raw.received.length = 0
  return raw
}

test('QoS 2: a re-send before PUBREL is stored once (same write, later, and after a reconnect of a persistent session); a clean session starts without the old unreleased ids', async () => {
  const config = writeConfig({
    devices: await devicesConfig(['q2-a', 'q2-b']),
    apps: { ops: { passwordHash: await hashCheap('ops-secret'), read: ['devices/+/telemetry'], write: [] } }
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    const app = await mqtt.connectAsync(gw.url, { clientId: 'ops-1', username: 'ops', password: 'ops-secret' })
    const routed: string[] = []
    app.on('message', (_t, p) => routed.push(p.toString()))
    await app.subscribeAsync('devices/+/telemetry', { qos: 2 })

    // Persistent session: id 1 twice in one write, id 2 re-sent after its PUBREC, id 3 left unreleased.
    const a = await login(gw.mqttPort, 'q2-a', false)
    const t = 'devices/q2-a/telemetry'
    a.socket.write(Buffer.concat([publishPacket(t, 'a1', 2, 1), publishPacket(t, 'a1', 2, 1, DUP)]))
    a.socket.write(publishPacket(t, 'a2', 2, 2))
    await until(() => idsOf(a, 0x50).includes(2), 'PUBREC 2')
    a.socket.write(publishPacket(t, 'a2', 2, 2, DUP))
    a.socket.write(publishPacket(t, 'a3', 2, 3))
    await until(() => idsOf(a, 0x50).length >= 4, 'four PUBRECs')
    a.socket.write(Buffer.concat([pubrel(1), pubrel(2)]))
    await until(() => idsOf(a, 0x70).length >= 2, 'PUBCOMPs')
    a.socket.destroy()
    // Back on the same session: id 3 re-sent (DUP), then released.
    const a2 = await login(gw.mqttPort, 'q2-a', false)
    a2.socket.write(publishPacket(t, 'a3', 2, 3, DUP))
    await until(() => idsOf(a2, 0x50).includes(3), 'PUBREC 3 again')
    a2.socket.write(pubrel(3))
    await until(() => idsOf(a2, 0x70).includes(3), 'PUBCOMP 3')
    a2.socket.destroy()

    // Clean session: id 1 left unreleased, then a new clean connection sends a different reading as id 1.
    const b = await login(gw.mqttPort, 'q2-b', true)
    b.socket.write(publishPacket('devices/q2-b/telemetry', 'b-first', 2, 1))
    await until(() => idsOf(b, 0x50).includes(1), 'PUBREC b1')
    b.socket.destroy()
    await sleep(200)
    const b2 = await login(gw.mqttPort, 'q2-b', true)
    b2.socket.write(publishPacket('devices/q2-b/telemetry', 'b-second', 2, 1))
    await until(() => idsOf(b2, 0x50).includes(1), 'PUBREC b2')
    b2.socket.write(pubrel(1))
    await until(() => idsOf(b2, 0x70).includes(1), 'PUBCOMP b2')
    b2.socket.destroy()

    await until(() => routed.includes('b-second'), 'b-second routed')
    await app.endAsync()
    const st = await gw.status()
    assert.equal(st.counters.stored, 5, 'a1, a2, a3, b-first, b-second: each stored once')
    assert.equal(st.counters.duplicates, 3, 'the three re-sends of a1, a2, a3 are counted as duplicates')
    assert.deepEqual(routed.sort(), ['a1', 'a2', 'a3', 'b-first', 'b-second'], 'each reached the app once')
  } finally {
    await gw.stop()
  }
})

test('QoS 2 publishes never released (no PUBREL) are bounded for 3.1.1 clients (1000, so a pipelining client is fine): past it the connection is closed and counted', async () => {
  const config = writeConfig({
    devices: await devicesConfig(['q2-hog']),
    quota: { receiveMaximum: 8, msgsPerS: 100_000, msgsBurst: 100_000 }
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    const raw = await login(gw.mqttPort, 'q2-hog', false)
    const LIMIT = 1000
    raw.socket.write(
      Buffer.concat(
        Array.from({ length: LIMIT }, (_, i) => publishPacket('devices/q2-hog/telemetry', `{"n":${i}}`, 2, i + 1))
      )
    )
    await until(() => idsOf(raw, 0x50).length >= LIMIT, `${LIMIT} PUBRECs`)
    assert.equal(await closesWithin(raw, 500), false, 'a thousand unreleased (far past the MQTT 5 limit of 8) are fine')
    raw.socket.write(publishPacket('devices/q2-hog/telemetry', '{"n":-1}', 2, LIMIT + 1))
    assert.ok(await closesWithin(raw, 5000), 'the next one closes the connection')
    const st = await gw.status()
    assert.equal(st.counters.stored, LIMIT)
    assert.equal(st.counters.refused.receive_maximum, 1)
    const hog = st.devices.find((d: { id: string }) => d.id === 'q2-hog')
    assert.deepEqual(hog.refused, { receive_maximum: 1 }, 'counted for the device, as its other refusals are')
  } finally {
    await gw.stop()
  }
})

// Found by a code review: a re-send of a QoS 2 packet whose first copy was still in admission was
// answered at once, as a duplicate. Its PUBREC could leave before the first copy was in SQLite, and
// when the first copy was refused, the re-send still got a success PUBREC for a reading never stored.
test('MQTT 5: a QoS 2 re-send waits for its first copy; when that is refused, the re-send is refused too, not acknowledged', async () => {
  const config = writeConfig({
    devices: await devicesConfig(['rq-1'], () => ({
      storagePolicy: 'reject-new',
      quota: { msgsPerS: 1, msgsBurst: 1, maxBufferedReadings: 1 }
    }))
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    const raw = await openRaw(gw.mqttPort)
    raw.socket.write(connect5Packet('rq-1', 'rq-1', secretOf('rq-1')))
    await until(() => Buffer.concat(raw.received).length >= 4, 'CONNACK')
    raw.received.length = 0
    const pub5 = (payload: string, qos: number, id: number, flags = 0): Buffer =>
      packet(
        0x30 | (qos << 1) | flags,
        Buffer.concat([
          str('devices/rq-1/telemetry'),
          Buffer.from([id >> 8, id & 0xff]),
          varint(0),
          Buffer.from(payload)
        ])
      )
    // One reading fills the device's storage quota (reject-new: later ones are refused).
    raw.socket.write(pub5('{"v":0}', 1, 1))
    await until(() => Buffer.concat(raw.received).length >= 4, 'PUBACK')
    raw.received.length = 0
    // A QoS 2 publish and its DUP re-send in one write; the rate quota holds both behind the first.
    raw.socket.write(Buffer.concat([pub5('{"v":1}', 2, 5), pub5('{"v":1}', 2, 5, DUP)]))
    const pubrecCodes = (): number[] => {
      const all = Buffer.concat(raw.received)
      const codes: number[] = []
      for (let i = 0; i + 1 < all.length; ) {
        const len = all[i + 1]!
        if (all[i] === 0x50) codes.push(len >= 3 ? all[i + 4]! : 0)
        i += 2 + len
      }
      return codes
    }
    const deadline = Date.now() + 10_000
    while (pubrecCodes().length < 2 && Date.now() < deadline) await sleep(50)
    assert.deepEqual(pubrecCodes(), [0x97, 0x97], 'both copies refused: Quota exceeded')
    raw.socket.destroy()
    const st = await gw.status()
    assert.equal(st.counters.stored, 1, 'nothing stored but the first reading')
  } finally {
    await gw.stop()
  }
})
