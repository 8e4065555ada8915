import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import {
  closed,
  connectAs,
  devicesConfig,
  eventually,
  hashCheap,
  refusal,
  secretOf,
  sleep,
  writeConfig
} from './harness/devices.js'
import { rawLogin } from './harness/mqtt-raw.js'

// Caps and ownership that hold across reconnects, for apps and against anonymous clients too.
let gw: GatewayProcess
before(async () => {
  const config = writeConfig({
    devices: await devicesConfig(['pump-1', 'pump-2']),
    apps: {
      dash: { passwordHash: await hashCheap('dash-secret'), read: ['plant/#'], write: ['plant/#', 'devices/+/cmd/#'] }
    },
    mqtt: { maxRetainedPerClient: 3 }
  })
  gw = await GatewayProcess.start({ args: ['--config', config] })
})
after(async () => {
  await gw?.stop()
})

const dash = async (): Promise<mqtt.MqttClient> =>
  await mqtt.connectAsync(gw.url, {
    clientId: 'dash-ui',
    username: 'dash',
    password: 'dash-secret',
    reconnectPeriod: 0,
    connectTimeout: 5000
  })

test("an app's retained topics count across its reconnects against maxRetainedPerClient", {
  timeout: 90_000
}, async () => {
  for (let i = 0; i < 3; i++) {
    const c = await dash()
    await c.publishAsync(`plant/board/${i}`, `v${i}`, { qos: 1, retain: true })
    await c.endAsync()
  }
  const c = await dash()
  const gone = closed(c)
  c.publish('plant/board/3', 'v3', { qos: 1, retain: true })
  await gone
  await eventually(() => /"code":"HF_ERR_RETAINED_LIMIT"/.test(gw.log()), 5000, 'logged')
  // Clearing one frees its place, on any connection of the app.
  const c2 = await dash()
  await c2.publishAsync('plant/board/0', '', { qos: 1, retain: true })
  await c2.publishAsync('plant/board/3', 'v3', { qos: 1, retain: true })
  await c2.endAsync()
  const reader = await mqtt.connectAsync(gw.url, { clientId: 'reader', reconnectPeriod: 0 })
  const got: string[] = []
  reader.on('message', t => got.push(t))
  await reader.subscribeAsync('plant/board/+', { qos: 1 })
  await sleep(500)
  assert.deepEqual(got.sort(), ['plant/board/1', 'plant/board/2', 'plant/board/3'])
  await reader.endAsync()
})

test("an anonymous client cannot take a provisioned device's or app's client id, nor a persistent session's", {
  timeout: 90_000
}, async () => {
  // pump-1 keeps a persistent session under its own client id and one more.
  const d = await connectAs(gw.url, 'pump-1', { clientId: 'pump-1-main', clean: false })
  await d.subscribeAsync('devices/pump-1/cmd/#', { qos: 1 })
  await d.endAsync()

  for (const clientId of ['pump-1-main', 'pump-1', 'pump-2', 'dash']) {
    assert.match(await refusal(gw.url, { clientId }), /Identifier rejected/, clientId)
  }
  assert.equal((await gw.status()).counters.refused.client_id_taken, 4)
  await eventually(() => /"code":"HF_ERR_CLIENT_ID_TAKEN"/.test(gw.log()), 5000, 'logged')

  // A command sent while pump-1 is away waits in its own session and reaches it, nobody else.
  const app = await dash()
  await app.publishAsync('devices/pump-1/cmd/valve', 'open', { qos: 1 })
  await app.endAsync()
  // The listener is set before CONNECT: queued messages follow the CONNACK at once.
  const back = mqtt.connect(gw.url, {
    clientId: 'pump-1-main',
    clean: false,
    username: 'pump-1',
    password: secretOf('pump-1'),
    reconnectPeriod: 0
  })
  const got: string[] = []
  back.on('message', (t, p) => got.push(`${t}=${p.toString()}`))
  await eventually(() => got.length > 0, 5000, 'queued command delivered')
  await sleep(300)
  assert.deepEqual(got, ['devices/pump-1/cmd/valve=open'])
  await back.endAsync()

  // Any other id is still fine for anonymous clients.
  const other = await mqtt.connectAsync(gw.url, { clientId: 'bench-laptop', reconnectPeriod: 0 })
  await other.endAsync()
})

test('client ids over 256 bytes are refused with CONNACK 2; 256 bytes are fine', { timeout: 90_000 }, async () => {
  const long = await rawLogin(gw.mqttPort, 'x'.repeat(300))
  assert.equal(long.code, 2)
  long.raw.socket.destroy()
  const multibyte = await rawLogin(gw.mqttPort, 'é'.repeat(129))
  assert.equal(multibyte.code, 2, '258 bytes in 129 characters')
  multibyte.raw.socket.destroy()
  const fine = await rawLogin(gw.mqttPort, 'y'.repeat(256))
  assert.equal(fine.code, 0)
  fine.raw.socket.destroy()
  const s = await gw.status()
  assert.equal(s.counters.refused.client_id_invalid, 2)
  await eventually(() => /"code":"HF_ERR_CLIENT_ID_INVALID"/.test(gw.log()), 5000, 'logged')
})
