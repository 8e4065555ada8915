import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { connectAs, devicesConfig, eventually, hashCheap, sleep, writeConfig } from './harness/devices.js'

// Overlapping subscriptions with Subscription Identifiers (README "MQTT 5"): the one copy of a message
// a client gets carries the identifiers of every subscription it matched [MQTT-3.3.4-4].
let gw: GatewayProcess
before(async () => {
  const config = writeConfig({
    devices: await devicesConfig(['pump-1', 'pump-2']),
    apps: { dash: { passwordHash: await hashCheap('dash-secret'), read: ['devices/#'], write: [] } }
  })
  gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
})
after(async () => {
  await gw.stop()
})

const v5 = { protocolVersion: 5 as const }
const ids = (p: mqtt.IPublishPacket): number[] => {
  const si = p.properties?.subscriptionIdentifier
  return (si === undefined ? [] : Array.isArray(si) ? si : [si]).sort((a, b) => a - b)
}

test('two overlapping subscriptions with identifiers: one copy carrying both; others carry what they matched', async () => {
  const app = await connectAs(gw.url, 'dash', { ...v5, clientId: 'dash-si', password: 'dash-secret' })
  await app.subscribeAsync('devices/+/telemetry', { qos: 1, properties: { subscriptionIdentifier: 1 } })
  await app.subscribeAsync('devices/pump-1/#', { qos: 1, properties: { subscriptionIdentifier: 2 } })
  await app.subscribeAsync('devices/pump-1/telemetry', { qos: 1 })
  const got: Array<{ topic: string; ids: number[] }> = []
  app.on('message', (topic, _p, packet) => got.push({ topic, ids: ids(packet) }))
  const p1 = await connectAs(gw.url, 'pump-1', v5)
  const p2 = await connectAs(gw.url, 'pump-2', v5)
  await p1.publishAsync('devices/pump-1/telemetry', '{"t":1}', { qos: 1 })
  await p1.publishAsync('devices/pump-1/status', '{"up":true}', { qos: 1 })
  await p2.publishAsync('devices/pump-2/telemetry', '{"t":2}', { qos: 1 })
  await eventually(() => got.length >= 3, 5000, 'three messages')
  await sleep(300)
  assert.deepEqual(got, [
    { topic: 'devices/pump-1/telemetry', ids: [1, 2] },
    { topic: 'devices/pump-1/status', ids: [2] },
    { topic: 'devices/pump-2/telemetry', ids: [1] }
  ])

  // Without the second subscription the first message carries only the first identifier.
  await app.unsubscribeAsync('devices/pump-1/#')
  got.length = 0
  await p1.publishAsync('devices/pump-1/telemetry', '{"t":3}', { qos: 1 })
  await eventually(() => got.length >= 1, 5000, 'one message')
  await sleep(200)
  assert.deepEqual(got, [{ topic: 'devices/pump-1/telemetry', ids: [1] }])
  await Promise.all([app.endAsync(), p1.endAsync(), p2.endAsync()])
})

const PAHO = `
import sys, time, paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port = int(sys.argv[1])
c = mqtt.Client(client_id='dash-paho', protocol=mqtt.MQTTv5)
c.username_pw_set('dash', 'dash-secret')
got = []
c.on_message = lambda cl, u, m: got.append(sorted(m.properties.SubscriptionIdentifier))
c.connect('127.0.0.1', port)
c.loop_start()
time.sleep(0.5)
for i, f in ((7, 'devices/+/telemetry'), (9, 'devices/pump-2/+')):
    p = Properties(PacketTypes.SUBSCRIBE)
    p.SubscriptionIdentifier = i
    c.subscribe(f, qos=1, properties=p)
time.sleep(0.5)
print('ready', flush=True)
t = time.time()
while not got and time.time() - t < 10:
    time.sleep(0.1)
time.sleep(0.5)
print(got, flush=True)
c.disconnect()
`

test('paho-mqtt MQTTv5 gets both identifiers of its overlapping subscriptions', async () => {
  const py = spawn('/usr/bin/python3', ['-c', PAHO, String(gw.mqttPort)])
  let out = ''
  py.stdout.on('data', d => (out += d))
  py.stderr.on('data', d => (out += d))
  const exited = new Promise(resolve => py.once('exit', resolve))
  await eventually(() => out.includes('ready'), 10_000, 'paho subscribed')
  const dev = await connectAs(gw.url, 'pump-2', v5)
  await dev.publishAsync('devices/pump-2/telemetry', '{"t":1}', { qos: 1 })
  await exited
  assert.match(out, /\[\[7, 9\]\]/, out)
  await dev.endAsync()
})
