import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { connectAs, devicesConfig, eventually, hashCheap, sleep, writeConfig } from './harness/devices.js'

// Shared subscriptions `$share/<group>/<filter>` (README "MQTT 5"): within the read ACL of the filter,
// each message to one member of the group, for MQTT 5 and 3.1.1 clients alike.
let gw: GatewayProcess
before(async () => {
  const config = writeConfig({
    devices: await devicesConfig(['pump-1', 'pump-2']),
    apps: {
      dash: { passwordHash: await hashCheap('dash-secret'), read: ['devices/+/telemetry'], write: [] }
    }
  })
  gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
})
after(async () => {
  await gw.stop()
})

const v5 = { protocolVersion: 5 as const }
const app = async (clientId: string, opts: mqtt.IClientOptions = v5): Promise<mqtt.MqttClient> =>
  await connectAs(gw.url, 'dash', { ...opts, clientId, password: 'dash-secret' })

function collect(c: mqtt.MqttClient): string[] {
  const got: string[] = []
  c.on('message', (_t, payload) => got.push(payload.toString()))
  return got
}

async function granted(c: mqtt.MqttClient, filter: string): Promise<number> {
  try {
    const [g] = await c.subscribeAsync(filter, { qos: 1 })
    return g!.qos
  } catch (err) {
    return (err as { packet?: { granted?: number[] } }).packet?.granted?.[0] ?? -1
  }
}

async function publishN(dev: mqtt.MqttClient, from: number, n: number): Promise<string[]> {
  const sent: string[] = []
  for (let i = from; i < from + n; i++) {
    sent.push(`{"n":${i}}`)
    await dev.publishAsync('devices/pump-1/telemetry', sent.at(-1)!, { qos: 1 })
  }
  return sent
}

test('the CONNACK does not say shared subscriptions are unavailable', async () => {
  const c = await app('dash-c')
  const props = (c as unknown as { connackPacket?: { properties?: Record<string, unknown> } }).connackPacket?.properties
  assert.ok(props !== undefined)
  assert.notEqual(props.sharedSubscriptionAvailable, false)
  await c.endAsync()
})

test('each message goes to one member of the group, in turn; a plain subscriber still gets every one', async () => {
  const a = await app('dash-a')
  const b = await app('dash-b')
  const plain = await app('dash-p')
  const [ga, gb, gp] = [collect(a), collect(b), collect(plain)]
  assert.equal(await granted(a, '$share/workers/devices/+/telemetry'), 1)
  assert.equal(await granted(b, '$share/workers/devices/+/telemetry'), 1)
  assert.equal(await granted(plain, 'devices/+/telemetry'), 1)
  const dev = await connectAs(gw.url, 'pump-1', v5)
  const sent = await publishN(dev, 0, 20)
  await eventually(() => ga.length + gb.length >= 20 && gp.length >= 20, 5000, 'all delivered')
  await sleep(300)
  assert.deepEqual([...ga, ...gb].sort(), [...sent].sort(), 'every message once, to one member')
  assert.equal(ga.length, 10, 'round robin')
  assert.equal(gb.length, 10, 'round robin')
  assert.deepEqual(gp, sent)

  // A member that leaves (unsubscribe, then disconnect) stops getting its turn.
  await b.unsubscribeAsync('$share/workers/devices/+/telemetry')
  const more = await publishN(dev, 20, 4)
  await eventually(() => ga.length >= 14, 5000, 'remaining member gets all')
  assert.deepEqual(ga.slice(10), more)
  await a.endAsync()
  const c = await app('dash-a2')
  const gc = collect(c)
  assert.equal(await granted(c, '$share/workers/devices/+/telemetry'), 1)
  const last = await publishN(dev, 24, 3)
  await eventually(() => gc.length >= 3, 5000, 'new member gets all')
  assert.deepEqual(gc, last)
  assert.equal(gb.length, 10)
  await Promise.all([b.endAsync(), c.endAsync(), plain.endAsync(), dev.endAsync()])
})

test('the filter after the group is checked against the read ACL: outside it SUBACK 0x87, counted; malformed 0x8F', async () => {
  const before = (await gw.status()).counters.refused.acl_subscribe ?? 0
  const a = await app('dash-acl')
  assert.equal(await granted(a, '$share/g/devices/+/cmd/#'), 0x87)
  assert.equal(await granted(a, '$share/g/#'), 0x87)
  assert.equal(await granted(a, '$share/g/devices/pump-1/telemetry'), 1)
  assert.equal(await granted(a, '$share//devices/+/telemetry'), 0x8f)
  assert.equal(await granted(a, '$share/g'), 0x8f)
  const dev = await connectAs(gw.url, 'pump-2', v5)
  assert.equal(await granted(dev, '$share/g/devices/pump-2/cmd/#'), 1)
  assert.equal(await granted(dev, '$share/g/devices/pump-1/cmd/#'), 0x87)
  assert.equal((await gw.status()).counters.refused.acl_subscribe, before + 3)
  await Promise.all([a.endAsync(), dev.endAsync()])
})

test('3.1.1 clients share too, in one group with mosquitto_sub -V mqttv5', async () => {
  const old = await app('dash-311', { protocolVersion: 4 })
  const got311 = collect(old)
  assert.equal(await granted(old, '$share/mixed/devices/pump-1/telemetry'), 1)
  // Line-buffered, so its debug lines (-d: "… received SUBACK") come as they happen.
  const sub = spawn('stdbuf', [
    ...['-oL', 'mosquitto_sub'],
    ...['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(gw.mqttPort), '-u', 'dash', '-P', 'dash-secret'],
    ...['-i', 'dash-mosq', '-t', '$share/mixed/devices/pump-1/telemetry', '-q', '1', '-W', '20', '-d']
  ])
  let out = ''
  sub.stdout.on('data', d => (out += d))
  const exited = new Promise(resolve => sub.once('exit', resolve))
  await eventually(() => out.includes('received SUBACK'), 10_000, 'mosquitto_sub subscribed')
  const dev = await connectAs(gw.url, 'pump-1', { protocolVersion: 4 })
  const sent = await publishN(dev, 100, 6)
  // With -d, mosquitto_sub also prints its packets ("Client … received PUBLISH …"); payloads are the rest.
  const lines = (): string[] => out.split('\n').filter(l => l.startsWith('{'))
  await eventually(() => got311.length + lines().length >= 6, 5000, 'all delivered')
  await sleep(300)
  assert.deepEqual([...got311, ...lines()].sort(), [...sent].sort())
  assert.equal(got311.length, 3)
  sub.kill()
  await exited
  await Promise.all([old.endAsync(), dev.endAsync()])
})
