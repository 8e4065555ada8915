import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { GatewayProcess, runCli } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import { connectAs, devicesConfig, eventually, hashCheap, secretOf, writeConfig } from './harness/devices.js'
import { openRaw, packet, str, varint, type Raw } from './harness/mqtt-raw.js'

// MQTT 5 clients are told why with reason codes (README "MQTT 5"); 3.1.1 ones keep today's outcomes.
let gw: GatewayProcess
before(async () => {
  const config = writeConfig({
    devices: {
      ...(await devicesConfig(['pump-1', 'pump-2'])),
      ...(await devicesConfig(['full-1'], () => ({ storagePolicy: 'reject-new', quota: { maxBufferedReadings: 2 } }))),
      ...(await devicesConfig(['small-1'], () => ({ quota: { maxPayloadBytes: 64 } }))),
      ...(await devicesConfig(['slow-1'], () => ({ quota: { msgsPerS: 0.01, msgsBurst: 1, receiveMaximum: 3 } }))),
      ...(await devicesConfig(['solo-1'], () => ({ quota: { maxSessions: 1 } })))
    },
    apps: { dash: { passwordHash: await hashCheap('dash-secret'), read: ['devices/+/telemetry'], write: [] } },
    mqtt: { maxPayloadBytes: 4096, authFailureBurst: 8, authFailuresPerMin: 0.1 }
  })
  gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
})
after(async () => {
  await gw.stop()
})

const v5 = { protocolVersion: 5 as const }

/** Every packet a client receives, to read reason codes and Reason Strings. */
function record(c: mqtt.MqttClient): mqtt.Packet[] {
  const got: mqtt.Packet[] = []
  c.on('packetreceive', p => got.push(p))
  return got
}

/** The CONNACK an MQTT 5 connection attempt gets (the client never retries). */
async function connack(opts: mqtt.IClientOptions): Promise<mqtt.IConnackPacket> {
  const c = mqtt.connect(gw.url, { ...v5, reconnectPeriod: 0, connectTimeout: 5000, ...opts })
  c.on('error', () => {})
  try {
    return await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no CONNACK')), 5000)
      c.on('packetreceive', p => {
        if (p.cmd === 'connack') {
          clearTimeout(t)
          resolve(p)
        }
      })
    })
  } finally {
    c.end(true)
  }
}

/** The reason code of a QoS 1/2 publish's PUBACK/PUBREC (0 = accepted). */
async function pubReason(c: mqtt.MqttClient, topic: string, payload: string, qos: 1 | 2 = 1): Promise<number> {
  try {
    await c.publishAsync(topic, payload, { qos })
    return 0
  } catch (err) {
    return (err as { code: number }).code
  }
}

const reasonStringOf = (got: mqtt.Packet[], cmd: string): string | undefined =>
  (got.filter(p => p.cmd === cmd).at(-1) as { properties?: { reasonString?: string } } | undefined)?.properties
    ?.reasonString

const disconnected = async (c: mqtt.MqttClient): Promise<mqtt.IDisconnectPacket> =>
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no DISCONNECT')), 8000)
    c.once('disconnect', p => {
      clearTimeout(t)
      resolve(p)
    })
  })

/** A raw socket logged in over MQTT 5 as a device (for sending what mqtt.js would not). */
async function v5Raw(id: string): Promise<Raw> {
  const raw = await openRaw(gw.mqttPort)
  const flags = 0xc2 // user name, password, clean start
  raw.socket.write(
    packet(
      0x10,
      Buffer.concat([
        Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 5, flags, 0, 30]),
        varint(0),
        str(id),
        str(id),
        str(secretOf(id))
      ])
    )
  )
  await eventually(() => Buffer.concat(raw.received).length >= 4, 5000, 'CONNACK')
  assert.equal(Buffer.concat(raw.received)[3], 0, 'CONNACK success')
  return raw
}

const device = (s: any, id: string): any => s.devices.find((d: any) => d.id === id)

test('MQTT 5 and 3.1.1 devices share the listener; an MQTT 5 publish is stored before its PUBACK', async () => {
  const five = await connectAs(gw.url, 'pump-1', v5)
  assert.equal(five.options.protocolVersion, 5)
  assert.equal(await pubReason(five, 'devices/pump-1/telemetry', '{"ts":1700000000000,"t":5}'), 0)
  assert.equal(await pubReason(five, 'devices/pump-1/telemetry', '{"ts":1700000000001,"t":6}', 2), 0)
  const four = await connectAs(gw.url, 'pump-2')
  await four.publishAsync('devices/pump-2/telemetry', '{"ts":1700000000002,"t":4}', { qos: 1 })
  const rows = readBuffer(gw.dataDir).map(r => r.payload.toString())
  assert.ok(rows.includes('{"ts":1700000000000,"t":5}') && rows.includes('{"ts":1700000000001,"t":6}'))
  assert.ok(rows.includes('{"ts":1700000000002,"t":4}'))
  const s = await gw.status()
  assert.equal(device(s, 'pump-1').protocol, '5', '/api/status shows each device protocol version')
  assert.equal(device(s, 'pump-2').protocol, '3.1.1')
  await Promise.all([five.endAsync(), four.endAsync()])
})

test('an ACL denial is PUBACK/PUBREC 0x87 with a Reason String; the connection stays and the denial is counted', async () => {
  const before = device(await gw.status(), 'pump-1')?.dropped?.acl_denied ?? 0
  const c = await connectAs(gw.url, 'pump-1', v5)
  const got = record(c)
  assert.equal(await pubReason(c, 'devices/pump-2/telemetry', '{"t":1}', 1), 0x87)
  assert.match(reasonStringOf(got, 'puback') ?? '', /^HF_ERR_ACL_PUBLISH/)
  assert.equal(await pubReason(c, 'devices/pump-2/telemetry', '{"t":1}', 2), 0x87)
  assert.match(reasonStringOf(got, 'pubrec') ?? '', /^HF_ERR_ACL_PUBLISH/)
  assert.ok(c.connected, 'the connection is kept')
  assert.equal(await pubReason(c, 'devices/pump-1/telemetry', '{"ts":1700000000003,"t":7}'), 0)
  assert.equal(device(await gw.status(), 'pump-1').dropped.acl_denied, before + 2)
  await c.endAsync()
})

test('a reject-new storage quota is PUBACK 0x97 with the connection kept; 3.1.1 still closes', async () => {
  const c = await connectAs(gw.url, 'full-1', v5)
  const got = record(c)
  assert.equal(await pubReason(c, 'devices/full-1/telemetry', '{"ts":1700000000000,"n":1}'), 0)
  assert.equal(await pubReason(c, 'devices/full-1/telemetry', '{"ts":1700000000001,"n":2}'), 0)
  assert.equal(await pubReason(c, 'devices/full-1/telemetry', '{"ts":1700000000002,"n":3}'), 0x97)
  assert.match(reasonStringOf(got, 'puback') ?? '', /^HF_ERR_QUOTA_STORAGE/)
  assert.ok(c.connected)
  assert.equal(device(await gw.status(), 'full-1').dropped.quota_storage, 1)
  await c.endAsync()

  const old = await connectAs(gw.url, 'full-1')
  const gone = new Promise<void>(resolve => old.once('close', () => resolve()))
  old.publish('devices/full-1/telemetry', '{"ts":1700000000003,"n":4}', { qos: 1 })
  await gone
  old.end(true)
  assert.equal(device(await gw.status(), 'full-1').dropped.quota_storage, 2)
})

test('a payload over the device limit and a packet over the gateway limit are DISCONNECT 0x95, counted', async () => {
  const s0 = await gw.status()
  const c = await connectAs(gw.url, 'small-1', v5)
  const bye = disconnected(c)
  c.publish('devices/small-1/telemetry', 'x'.repeat(100), { qos: 1 })
  const d = await bye
  assert.equal(d.reasonCode, 0x95)
  assert.match(d.properties?.reasonString ?? '', /^HF_ERR_PAYLOAD_TOO_LARGE/)
  c.end(true)

  // mqtt.js keeps to the advertised Maximum Packet Size itself: a raw client sends the oversized packet.
  const raw = await v5Raw('pump-1')
  raw.socket.write(
    packet(0x32, Buffer.concat([str('devices/pump-1/telemetry'), Buffer.from([0, 1]), varint(0), Buffer.alloc(80_000)]))
  )
  await raw.closed
  const bytes = Buffer.concat(raw.received)
  const at = bytes.lastIndexOf(0xe0)
  assert.ok(at > 0, 'a DISCONNECT came')
  assert.equal(bytes[at + 2], 0x95)
  assert.match(bytes.subarray(at).toString('latin1'), /HF_ERR_PACKET_TOO_LARGE/)
  const s1 = await gw.status()
  assert.equal(device(s1, 'small-1').dropped.payload_too_large, 1)
  assert.equal(s1.counters.refused.packet_too_large, s0.counters.refused.packet_too_large + 1)
})

test('CONNACK reason codes: 0x86 bad secret, 0x87 not authorized, 0x85 client id taken, 0x97 session limit', async () => {
  const bad = await connack({ clientId: 'pump-1', username: 'pump-1', password: 'wrong' })
  assert.equal(bad.reasonCode, 0x86)
  assert.match(bad.properties?.reasonString ?? '', /^HF_ERR_AUTH_BAD_CREDENTIALS/)
  assert.equal((await connack({ clientId: 'pump-1', username: 'ghost-1', password: 'x' })).reasonCode, 0x86)
  const anon = await connack({ clientId: 'anon-1' })
  assert.equal(anon.reasonCode, 0x87)
  assert.match(anon.properties?.reasonString ?? '', /^HF_ERR_AUTH_ANONYMOUS/)

  const holder = await connectAs(gw.url, 'pump-2', v5)
  const taken = await connack({ clientId: 'pump-2', username: 'dash', password: 'dash-secret' })
  assert.equal(taken.reasonCode, 0x85)
  assert.match(taken.properties?.reasonString ?? '', /^HF_ERR_CLIENT_ID_TAKEN/)
  await holder.endAsync()

  const first = await connectAs(gw.url, 'solo-1', { ...v5, clientId: 'solo-1-a' })
  const second = await connack({ clientId: 'solo-1-b', username: 'solo-1', password: secretOf('solo-1') })
  assert.equal(second.reasonCode, 0x97)
  assert.match(second.properties?.reasonString ?? '', /^HF_ERR_SESSION_LIMIT/)
  await first.endAsync()
  const s = await gw.status()
  assert.ok(s.counters.refused.client_id_taken >= 1 && s.counters.refused.session_limit >= 1)
})

test('the CONNACK advertises Receive Maximum per device and the Maximum Packet Size; a client past it is DISCONNECT 0x93', async () => {
  const ok = await connack({ clientId: 'pump-1', username: 'pump-1', password: secretOf('pump-1') })
  assert.equal(ok.reasonCode, 0)
  assert.equal(ok.properties?.receiveMaximum, 64)
  assert.equal(ok.properties?.maximumPacketSize, 4096 + 65_536 + 16 + 5)
  const slow = await connack({ clientId: 'slow-1', username: 'slow-1', password: secretOf('slow-1') })
  assert.equal(slow.properties?.receiveMaximum, 3)

  // A client that ignores it: five QoS 1 publishes at once while the rate quota holds their PUBACKs.
  const raw = await v5Raw('slow-1')
  const publishes = [1, 2, 3, 4, 5].map(id =>
    packet(
      0x32,
      Buffer.concat([str('devices/slow-1/telemetry'), Buffer.from([0, id]), varint(0), Buffer.from(`{"n":${id}}`)])
    )
  )
  raw.socket.write(Buffer.concat(publishes))
  await raw.closed
  const bytes = Buffer.concat(raw.received)
  const at = bytes.lastIndexOf(0xe0)
  assert.ok(at > 0, 'a DISCONNECT came')
  assert.equal(bytes[at + 2], 0x93)
  assert.ok((await gw.status()).counters.refused.receive_maximum >= 1)
})

test('a rotated secret ends its MQTT 5 sessions with DISCONNECT 0x98 and a Reason String', async () => {
  const g = await GatewayProcess.start({ anonymous: false })
  try {
    const add = await runCli(['devices', 'add', 'meter-1', '--password-stdin', '--data-dir', g.dataDir], {
      input: 'first-secret-1\n'
    })
    assert.equal(add.code, 0, add.stderr)
    let c: mqtt.MqttClient | null = null
    await eventually(
      async () => {
        try {
          c = await connectAs(g.url, 'meter-1', { ...v5, password: 'first-secret-1' })
          return true
        } catch {
          return false
        }
      },
      5000,
      'device usable after add'
    )
    const bye = disconnected(c!)
    assert.equal((await runCli(['devices', 'rotate', 'meter-1', '--data-dir', g.dataDir])).code, 0)
    const d = await bye
    assert.equal(d.reasonCode, 0x98)
    assert.match(d.properties?.reasonString ?? '', /^HF_ERR_AUTH_SECRET_ROTATED/)
    c!.end(true)
  } finally {
    await g.stop()
  }
})

test('too many failed logins from an address: CONNACK 0x9F, counted', async () => {
  let last: mqtt.IConnackPacket | null = null
  for (let i = 0; i < 12; i++) {
    last = await connack({ clientId: 'pump-1', username: 'pump-1', password: `wrong-${i}` })
    if (last.reasonCode === 0x9f) break
  }
  assert.equal(last?.reasonCode, 0x9f)
  assert.match(last?.properties?.reasonString ?? '', /^HF_ERR_AUTH_RATE_LIMITED/)
  assert.ok((await gw.status()).counters.refused.auth_rate_limited >= 1)
})
