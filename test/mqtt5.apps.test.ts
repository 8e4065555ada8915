import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import type mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { connectAs, devicesConfig, hashCheap, writeConfig } from './harness/devices.js'

// Local apps over MQTT 5: request/response to devices within the ACLs (README "MQTT 5").
let gw: GatewayProcess
before(async () => {
  const config = writeConfig({
    devices: await devicesConfig(['pump-1', 'pump-2']),
    apps: {
      dash: {
        passwordHash: await hashCheap('dash-secret'),
        read: ['devices/+/resp/#', 'devices/+/telemetry'],
        write: ['devices/+/cmd/#']
      }
    }
  })
  gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
})
after(async () => {
  await gw.stop()
})

const v5 = { protocolVersion: 5 as const }
const next = async (c: mqtt.MqttClient, ms = 5000): Promise<{ topic: string; packet: mqtt.IPublishPacket }> =>
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no message')), ms)
    c.once('message', (topic, _payload, packet) => {
      clearTimeout(t)
      resolve({ topic, packet })
    })
  })

test('an app sends a command with Response Topic and Correlation Data; the device answers on it, the app gets the answer', async () => {
  const app = await connectAs(gw.url, 'dash', { ...v5, clientId: 'dash-1', password: 'dash-secret' })
  const dev = await connectAs(gw.url, 'pump-1', v5)
  await dev.subscribeAsync('devices/pump-1/cmd/#', { qos: 1 })
  await app.subscribeAsync('devices/+/resp/#', { qos: 1 })

  const request = next(dev)
  await app.publishAsync('devices/pump-1/cmd/reboot', '{"delayS":5}', {
    qos: 1,
    properties: {
      responseTopic: 'devices/pump-1/resp/dash-1',
      correlationData: Buffer.from('req-42'),
      messageExpiryInterval: 60,
      userProperties: { origin: 'dashboard' }
    }
  })
  const got = await request
  assert.equal(got.topic, 'devices/pump-1/cmd/reboot')
  assert.equal(got.packet.properties?.responseTopic, 'devices/pump-1/resp/dash-1')
  assert.equal(Buffer.from(got.packet.properties!.correlationData!).toString(), 'req-42')
  assert.ok((got.packet.properties?.messageExpiryInterval ?? 0) > 0, 'the expiry travels with the command')
  assert.deepEqual({ ...got.packet.properties?.userProperties }, { origin: 'dashboard' })

  const answer = next(app)
  await dev.publishAsync(got.packet.properties!.responseTopic!, '{"ok":true}', {
    qos: 1,
    properties: { correlationData: got.packet.properties!.correlationData }
  })
  const a = await answer
  assert.equal(a.topic, 'devices/pump-1/resp/dash-1')
  assert.equal(Buffer.from(a.packet.properties!.correlationData!).toString(), 'req-42')
  await Promise.all([app.endAsync(), dev.endAsync()])
})

test('a Response Topic outside the answering device’s own topics is refused to it (PUBACK 0x87), not delivered', async () => {
  const app = await connectAs(gw.url, 'dash', { ...v5, clientId: 'dash-2', password: 'dash-secret' })
  const dev = await connectAs(gw.url, 'pump-2', v5)
  await app.subscribeAsync('devices/+/resp/#', { qos: 1 })
  let leaked = false
  app.on('message', () => {
    leaked = true
  })
  try {
    await dev.publishAsync('devices/pump-1/resp/dash-2', '{"ok":true}', { qos: 1 })
    assert.fail('accepted')
  } catch (err) {
    assert.equal((err as { code: number }).code, 0x87)
  }
  await new Promise(resolve => setTimeout(resolve, 300))
  assert.equal(leaked, false)
  await Promise.all([app.endAsync(), dev.endAsync()])
})

test('a command larger than the device announced as its Maximum Packet Size is not sent to it, and counted', async () => {
  const before = (await gw.status()).counters.refused.forward_too_large as number
  const app = await connectAs(gw.url, 'dash', { ...v5, clientId: 'dash-3', password: 'dash-secret' })
  const dev = await connectAs(gw.url, 'pump-1', { ...v5, properties: { maximumPacketSize: 200 } })
  await dev.subscribeAsync('devices/pump-1/cmd/#', { qos: 1 })
  const got: string[] = []
  dev.on('message', topic => got.push(topic))
  await app.publishAsync('devices/pump-1/cmd/big', 'x'.repeat(1000), { qos: 1 })
  await app.publishAsync('devices/pump-1/cmd/small', 'ok', { qos: 1 })
  const deadline = Date.now() + 5000
  while (!got.includes('devices/pump-1/cmd/small') && Date.now() < deadline) await new Promise(r => setTimeout(r, 50))
  assert.deepEqual(got, ['devices/pump-1/cmd/small'])
  assert.equal((await gw.status()).counters.refused.forward_too_large, before + 1)
  await Promise.all([app.endAsync(), dev.endAsync()])
})
