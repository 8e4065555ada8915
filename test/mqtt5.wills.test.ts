import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import { connectAs, devicesConfig, eventually, hashCheap, secretOf, sleep, writeConfig } from './harness/devices.js'

// MQTT 5 wills with properties (README "MQTT 5"): published with their properties, after the Will
// Delay Interval (capped by the session's expiry), and not at all when the device comes back in time.
let gw: GatewayProcess
before(async () => {
  const config = writeConfig({
    devices: await devicesConfig(['pump-1', 'pump-2', 'pump-3', 'pump-4']),
    apps: { dash: { passwordHash: await hashCheap('dash-secret'), read: ['devices/#'], write: [] } }
  })
  gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
})
after(async () => {
  await gw.stop()
})

const v5 = { protocolVersion: 5 as const }
type Got = { at: number; topic: string; payload: string; packet: mqtt.IPublishPacket }

async function watcher(clientId: string): Promise<{ app: mqtt.MqttClient; got: Got[] }> {
  const app = await connectAs(gw.url, 'dash', { ...v5, clientId, password: 'dash-secret' })
  await app.subscribeAsync('devices/+/status', { qos: 1 })
  const got: Got[] = []
  app.on('message', (topic, payload, packet) =>
    got.push({ at: Date.now(), topic, payload: payload.toString(), packet })
  )
  return { app, got }
}

/** Cut the device's TCP connection without DISCONNECT: its will is due. */
function cut(c: mqtt.MqttClient): void {
  ;(c as unknown as { stream: { destroy: () => void } }).stream.destroy()
}

const will = (id: string, properties: Record<string, unknown>) => ({
  topic: `devices/${id}/status`,
  payload: Buffer.from('{"online":false}'),
  qos: 1 as const,
  retain: false,
  properties
})

test('a will with properties is published with them when the connection drops, and stored as a reading', async () => {
  const { app, got } = await watcher('dash-w1')
  const dev = await connectAs(gw.url, 'pump-1', {
    ...v5,
    will: will('pump-1', {
      willDelayInterval: 0,
      contentType: 'application/json',
      payloadFormatIndicator: true,
      messageExpiryInterval: 600,
      responseTopic: 'devices/pump-1/resp/x',
      correlationData: Buffer.from('c-1'),
      userProperties: { reason: 'power' }
    })
  } as mqtt.IClientOptions)
  cut(dev)
  await eventually(() => got.length === 1, 5000, 'will delivered')
  const p = got[0]!.packet.properties!
  assert.equal(got[0]!.payload, '{"online":false}')
  assert.equal(p.contentType, 'application/json')
  assert.equal(p.payloadFormatIndicator, true)
  assert.ok(p.messageExpiryInterval! > 590 && p.messageExpiryInterval! <= 600, String(p.messageExpiryInterval))
  assert.equal(p.responseTopic, 'devices/pump-1/resp/x')
  assert.equal(Buffer.from(p.correlationData!).toString(), 'c-1')
  assert.deepEqual({ ...p.userProperties }, { reason: 'power' })
  assert.equal(
    (p as Record<string, unknown>).willDelayInterval,
    undefined,
    'Will Delay Interval is no PUBLISH property: not sent on'
  )
  assert.ok(readBuffer(gw.dataDir).some(r => r.topic === 'devices/pump-1/status'))
  await app.endAsync()
})

test('a will with a Will Delay Interval is published after the delay, with the device’s rights', async () => {
  const { app, got } = await watcher('dash-w2')
  const dev = await connectAs(gw.url, 'pump-2', {
    ...v5,
    properties: { sessionExpiryInterval: 60 },
    will: will('pump-2', { willDelayInterval: 3, contentType: 'application/json' })
  } as mqtt.IClientOptions)
  const cutAt = Date.now()
  cut(dev)
  await sleep(1000)
  assert.equal(got.length, 0, 'not before the delay')
  await eventually(() => got.length === 1, 10_000, 'delayed will delivered')
  assert.ok(got[0]!.at - cutAt >= 2900, `after ${got[0]!.at - cutAt} ms`)
  assert.equal(got[0]!.packet.properties?.contentType, 'application/json')
  assert.equal((got[0]!.packet.properties as Record<string, unknown>).willDelayInterval, undefined)
  assert.ok(readBuffer(gw.dataDir).some(r => r.topic === 'devices/pump-2/status'))
  await app.endAsync()
})

test('a device that reconnects within its Will Delay Interval cancels the will', async () => {
  const { app, got } = await watcher('dash-w3')
  const dev = await connectAs(gw.url, 'pump-3', {
    ...v5,
    properties: { sessionExpiryInterval: 60 },
    will: will('pump-3', { willDelayInterval: 3 })
  } as mqtt.IClientOptions)
  cut(dev)
  await sleep(500)
  const back = await connectAs(gw.url, 'pump-3', { ...v5, clean: false, properties: { sessionExpiryInterval: 60 } })
  await sleep(4500)
  assert.deepEqual(
    got.map(g => g.topic),
    []
  )
  await Promise.all([back.endAsync(), app.endAsync()])
})

test('mosquitto_pub -V mqttv5 killed with a delayed will: the will comes after the session expiry that caps the delay', async () => {
  const { app, got } = await watcher('dash-w4')
  const pub = spawn('mosquitto_pub', [
    ...['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(gw.mqttPort), '-i', 'pump-4'],
    ...['-u', 'pump-4', '-P', secretOf('pump-4'), '-t', 'devices/pump-4/telemetry', '-q', '1', '-l'],
    ...['--will-topic', 'devices/pump-4/status', '--will-payload', 'lost', '--will-qos', '1'],
    ...['-D', 'will', 'will-delay-interval', '60', '-D', 'will', 'content-type', 'text/plain'],
    ...['-D', 'will', 'user-property', 'site', 'north', '-D', 'connect', 'session-expiry-interval', '2']
  ])
  const exited = new Promise(resolve => pub.once('exit', resolve))
  pub.stdin.write('{"t":1}\n')
  await eventually(() => readBuffer(gw.dataDir).some(r => r.topic === 'devices/pump-4/telemetry'), 10_000, 'online')
  const killedAt = Date.now()
  pub.kill('SIGKILL')
  await exited
  await eventually(() => got.length === 1, 10_000, 'will delivered at session end')
  assert.ok(got[0]!.at - killedAt >= 1900, `after ${got[0]!.at - killedAt} ms`)
  assert.equal(got[0]!.payload, 'lost')
  assert.equal(got[0]!.packet.properties?.contentType, 'text/plain')
  assert.deepEqual({ ...got[0]!.packet.properties?.userProperties }, { site: 'north' })
  await app.endAsync()
})
