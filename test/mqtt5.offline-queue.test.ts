import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { connectAs, devicesConfig, eventually, hashCheap, secretOf, sleep, writeConfig } from './harness/devices.js'

// Commands to a device that is away (README "MQTT 5"): queued for its persistent session and delivered
// when it resumes it, in order, QoS 1 and 2; Message Expiry honoured (expired ones dropped, the
// remaining interval sent on delivery [MQTT-3.3.2-6]).
let gw: GatewayProcess
before(async () => {
  const config = writeConfig({
    devices: await devicesConfig(['pump-1', 'pump-2', 'pump-3', 'pump-4']),
    apps: { ops: { passwordHash: await hashCheap('ops-secret'), read: [], write: ['devices/+/cmd/#'] } }
  })
  gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
})
after(async () => {
  await gw.stop()
})

const session = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 300 } }

interface Got {
  topic: string
  payload: string
  qos: number
  expiry: number | undefined
}

/**
 * Resume the device's session and collect what it is sent: `wire` in the order the PUBLISHes came,
 * `got` as mqtt.js hands them over (a QoS 2 one once the gateway has released it with PUBREL).
 */
async function resume(
  id: string,
  opts: mqtt.IClientOptions
): Promise<{ c: mqtt.MqttClient; got: Got[]; wire: string[]; present: boolean }> {
  const got: Got[] = []
  const wire: string[] = []
  const c = mqtt.connect(gw.url, {
    clientId: id,
    username: id,
    password: secretOf(id),
    reconnectPeriod: 0,
    ...opts
  })
  c.on('packetreceive', p => {
    if (p.cmd === 'publish') wire.push(p.payload.toString())
  })
  c.on('message', (topic, payload, packet) =>
    got.push({ topic, payload: payload.toString(), qos: packet.qos, expiry: packet.properties?.messageExpiryInterval })
  )
  const connack = await new Promise<mqtt.IConnackPacket>((resolve, reject) => {
    c.once('connect', resolve)
    c.once('error', reject)
  })
  return { c, got, wire, present: connack.sessionPresent }
}

test('commands sent while an MQTT 5 device was away come when it resumes its session: in order, QoS 1 and 2, expired ones dropped', async () => {
  const dev = await connectAs(gw.url, 'pump-1', session)
  await dev.subscribeAsync('devices/pump-1/cmd/#', { qos: 2 })
  await dev.endAsync()

  const ops = await connectAs(gw.url, 'ops', { protocolVersion: 5, clientId: 'ops-1', password: 'ops-secret' })
  const expected: string[] = []
  for (let i = 0; i < 40; i++) {
    const qos = (1 + (i % 2)) as 1 | 2
    // Every tenth one expires before the device is back.
    const messageExpiryInterval = i % 10 === 5 ? 1 : i === 0 ? 120 : undefined
    await ops.publishAsync('devices/pump-1/cmd/set', `{"n":${i}}`, {
      qos,
      properties: messageExpiryInterval !== undefined ? { messageExpiryInterval } : {}
    })
    if (i % 10 !== 5) expected.push(`{"n":${i}}`)
  }
  await sleep(2200)

  const { c, got, wire, present } = await resume('pump-1', session)
  assert.equal(present, true)
  await eventually(() => got.length >= expected.length, 5000, `${expected.length} commands`)
  await sleep(500)
  assert.deepEqual(wire, expected, 'every unexpired command, in the order sent')
  assert.deepEqual(
    got.map(g => g.payload).sort(),
    [...expected].sort(),
    'each handed over once (every QoS 2 one released)'
  )
  const first = got.find(g => g.payload === '{"n":0}')!
  assert.equal(got.find(g => g.payload === '{"n":1}')?.qos, 2)
  assert.ok(first.expiry !== undefined && first.expiry <= 118 && first.expiry > 100, `remaining ${first.expiry}`)
  assert.ok(
    got.filter(g => g !== first).every(g => g.expiry === undefined),
    'no expiry where none was set'
  )
  await Promise.all([c.endAsync(), ops.endAsync()])
})

test('a session resumed with Clean Start 0 and no Session Expiry still gets its queue (the session then ends with that connection)', async () => {
  const dev = await connectAs(gw.url, 'pump-4', session)
  await dev.subscribeAsync('devices/pump-4/cmd/#', { qos: 2 })
  await dev.endAsync()
  const ops = await connectAs(gw.url, 'ops', { protocolVersion: 5, clientId: 'ops-4', password: 'ops-secret' })
  await ops.publishAsync('devices/pump-4/cmd/set', 'one', { qos: 1 })
  await ops.publishAsync('devices/pump-4/cmd/set', 'two', { qos: 2 })
  const { c, got, present } = await resume('pump-4', { protocolVersion: 5, clean: false })
  assert.equal(present, true)
  await eventually(() => got.length >= 2, 5000, 'two commands')
  assert.deepEqual(
    got.map(g => g.payload),
    ['one', 'two']
  )
  await Promise.all([c.endAsync(), ops.endAsync()])
})
test('a 3.1.1 persistent session gets its queued QoS 2 commands too, each released once', async () => {
  const old = { protocolVersion: 4 as const, clean: false }
  const dev = await connectAs(gw.url, 'pump-2', old)
  await dev.subscribeAsync('devices/pump-2/cmd/#', { qos: 2 })
  await dev.endAsync()
  const ops = await connectAs(gw.url, 'ops', { clientId: 'ops-2', password: 'ops-secret' })
  const sent: string[] = []
  for (let i = 0; i < 30; i++) {
    sent.push(`{"n":${i}}`)
    await ops.publishAsync('devices/pump-2/cmd/set', sent.at(-1)!, { qos: 2 })
  }
  const { c, got, wire } = await resume('pump-2', old)
  await eventually(() => got.length >= sent.length, 5000, `${sent.length} commands`)
  await sleep(300)
  assert.deepEqual(wire, sent)
  assert.deepEqual(got.map(g => g.payload).sort(), [...sent].sort())
  await Promise.all([c.endAsync(), ops.endAsync()])
})

test('mosquitto_sub -V mqttv5 -c -x: the command queued while it was away arrives with its remaining expiry', async () => {
  const args = [
    ...['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(gw.mqttPort), '-i', 'pump-3', '-c', '-x', '300'],
    ...['-u', 'pump-3', '-P', secretOf('pump-3'), '-t', 'devices/pump-3/cmd/#', '-q', '1']
  ]
  const run = async (extra: string[]): Promise<string> => {
    const sub = spawn('mosquitto_sub', [...args, ...extra])
    let out = ''
    sub.stdout.on('data', d => (out += d))
    await new Promise(resolve => sub.once('exit', resolve))
    return out
  }
  // First visit: makes the session and its subscription, leaves after 2 s.
  assert.match(await run(['-W', '2', '-d']), /received SUBACK/)
  const ops = await connectAs(gw.url, 'ops', { protocolVersion: 5, clientId: 'ops-3', password: 'ops-secret' })
  await ops.publishAsync('devices/pump-3/cmd/open', 'valve', { qos: 1, properties: { messageExpiryInterval: 90 } })
  await ops.publishAsync('devices/pump-3/cmd/open', 'stale', { qos: 1, properties: { messageExpiryInterval: 1 } })
  await sleep(2200)
  const out = await run(['-C', '1', '-W', '10', '-F', '%t %p %E'])
  const [topic, payload, expiry] = out.trim().split(' ')
  assert.equal(topic, 'devices/pump-3/cmd/open')
  assert.equal(payload, 'valve')
  assert.ok(Number(expiry) <= 88 && Number(expiry) > 70, out)
  await ops.endAsync()
})
