import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import { devicesConfig, eventually, hashCheap, secretOf, writeConfig } from './harness/devices.js'

// Other MQTT 5 clients than mqtt.js: Debian's mosquitto-clients and python3-paho-mqtt
// (scripts/install-system-deps.sh; paho from Debian's /usr/bin/python3).
let gw: GatewayProcess
before(async () => {
  const config = writeConfig({
    devices: await devicesConfig(['pump-1', 'pump-2']),
    apps: {
      dash: { passwordHash: await hashCheap('dash-secret'), read: ['devices/+/telemetry'], write: ['devices/+/cmd/#'] }
    }
  })
  gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
})
after(async () => {
  await gw.stop()
})

async function run(cmd: string, args: string[], ms = 15_000): Promise<{ code: number | null; out: string }> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', d => (out += d))
  child.stderr.on('data', d => (out += d))
  const t = setTimeout(() => child.kill(), ms)
  const code = await new Promise<number | null>(resolve => child.once('exit', c => resolve(c)))
  clearTimeout(t)
  return { code, out }
}

const port = (): string => String(gw.mqttPort)

test('mosquitto_pub -V mqttv5: a reading is stored; mosquitto_sub -V mqttv5 gets it with its user property', async () => {
  const sub = spawn('mosquitto_sub', [
    ...['-V', 'mqttv5', '-h', '127.0.0.1', '-p', port(), '-u', 'dash', '-P', 'dash-secret'],
    ...['-t', 'devices/+/telemetry', '-q', '1', '-C', '1', '-W', '15', '-F', '%t %p %P']
  ])
  let got = ''
  sub.stdout.on('data', d => (got += d))
  const subDone = new Promise<number | null>(resolve => sub.once('exit', c => resolve(c)))
  await new Promise(resolve => setTimeout(resolve, 1500))
  const pub = await run('mosquitto_pub', [
    ...['-V', 'mqttv5', '-h', '127.0.0.1', '-p', port(), '-u', 'pump-1', '-P', secretOf('pump-1'), '-i', 'pump-1'],
    ...['-t', 'devices/pump-1/telemetry', '-q', '1', '-m', '{"ts":1700000000000,"t":21}'],
    ...['-D', 'publish', 'user-property', 'site', 'north']
  ])
  assert.equal(pub.code, 0, pub.out)
  assert.equal(await subDone, 0)
  assert.match(got, /^devices\/pump-1\/telemetry \{"ts":1700000000000,"t":21\} site:north/)
  assert.ok(readBuffer(gw.dataDir).some(r => r.payload.toString() === '{"ts":1700000000000,"t":21}'))
})

test('mosquitto_pub -V mqttv5: a wrong secret is refused with CONNACK 0x86, a publish outside the ACL with PUBACK 0x87', async () => {
  const bad = await run('mosquitto_pub', [
    ...['-V', 'mqttv5', '-h', '127.0.0.1', '-p', port(), '-u', 'pump-1', '-P', 'wrong', '-i', 'pump-1'],
    ...['-t', 'devices/pump-1/telemetry', '-q', '1', '-m', 'x']
  ])
  assert.notEqual(bad.code, 0)
  assert.match(bad.out, /Bad user name or password/i)
  const denied = await run('mosquitto_pub', [
    ...['-V', 'mqttv5', '-h', '127.0.0.1', '-p', port(), '-u', 'pump-1', '-P', secretOf('pump-1'), '-i', 'pump-1'],
    ...['-t', 'devices/pump-2/telemetry', '-q', '1', '-m', 'x', '-d']
  ])
  assert.match(denied.out, /PUBACK.*\(?(rc|reason).{0,4}135|Not authorized/i, denied.out)
  const s = await gw.status()
  assert.ok(s.devices.find((d: any) => d.id === 'pump-1').dropped.acl_denied >= 1)
})

const PAHO = `
import sys, time, json
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port, user, password, topic = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
out = {}
c = mqtt.Client(client_id=user, protocol=mqtt.MQTTv5)
c.username_pw_set(user, password)
def on_connect(client, userdata, flags, rc, properties=None):
    out['connack'] = rc.value
    out['receiveMaximum'] = getattr(properties, 'ReceiveMaximum', None)
c.on_connect = on_connect
c.connect('127.0.0.1', port, keepalive=30)
c.loop_start()
deadline = time.time() + 10
while 'connack' not in out and time.time() < deadline: time.sleep(0.05)
if out.get('connack') == 0:
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ('line', '3')
    info = c.publish(topic, '{"ts":1700000000001,"t":22}', qos=1, properties=props)
    info.wait_for_publish(10)
    out['published'] = info.is_published()
c.disconnect()
c.loop_stop()
print(json.dumps(out))
`

test('paho-mqtt MQTTv5: a device logs in, learns its Receive Maximum and stores a reading; a wrong secret gets 0x86', async () => {
  const ok = await run('/usr/bin/python3', [
    '-c',
    PAHO,
    port(),
    'pump-2',
    secretOf('pump-2'),
    'devices/pump-2/telemetry'
  ])
  assert.equal(ok.code, 0, ok.out)
  const r = JSON.parse(ok.out.trim().split('\n').at(-1)!)
  assert.equal(r.connack, 0)
  assert.equal(r.receiveMaximum, 64)
  assert.equal(r.published, true)
  await eventually(
    () => readBuffer(gw.dataDir).some(x => x.payload.toString() === '{"ts":1700000000001,"t":22}'),
    5000,
    'stored'
  )
  const bad = await run('/usr/bin/python3', ['-c', PAHO, port(), 'pump-2', 'wrong', 'devices/pump-2/telemetry'])
  assert.equal(JSON.parse(bad.out.trim().split('\n').at(-1)!).connack, 0x86)
})
