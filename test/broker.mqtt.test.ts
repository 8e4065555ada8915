import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'

// The durable hooks must leave aedes a standard MQTT 3.1.1 broker for apps and commands.
let gw: GatewayProcess
before(async () => {
  gw = await GatewayProcess.start()
})
after(async () => {
  await gw.stop()
})

const nextMessage = async (
  c: mqtt.MqttClient,
  ms = 5000
): Promise<{ topic: string; payload: string; packet: mqtt.IPublishPacket }> =>
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no message')), ms)
    c.once('message', (topic, payload, packet) => {
      clearTimeout(t)
      resolve({ topic, payload: payload.toString(), packet })
    })
  })

test('QoS 0, 1 and 2 publishes reach a subscriber at the granted QoS', async () => {
  const sub = await mqtt.connectAsync(gw.url, { clientId: 'app-qos' })
  const granted = await sub.subscribeAsync('devices/+/cmd/#', { qos: 2 })
  assert.equal(granted[0]!.qos, 2)
  const pub = await mqtt.connectAsync(gw.url, { clientId: 'op-qos' })
  for (const qos of [0, 1, 2] as const) {
    const got = nextMessage(sub)
    await pub.publishAsync(`devices/d1/cmd/q${qos}`, `q${qos}`, { qos })
    const m = await got
    assert.equal(m.topic, `devices/d1/cmd/q${qos}`)
    assert.equal(m.payload, `q${qos}`)
    assert.equal(m.packet.qos, qos)
  }
  await Promise.all([sub.endAsync(), pub.endAsync()])
})

test('retained messages are delivered to late subscribers and cleared by an empty payload', async () => {
  const pub = await mqtt.connectAsync(gw.url, { clientId: 'op-ret' })
  await pub.publishAsync('site/config/mode', 'eco', { qos: 1, retain: true })
  const sub = await mqtt.connectAsync(gw.url, { clientId: 'app-ret' })
  const got = nextMessage(sub)
  await sub.subscribeAsync('site/config/#', { qos: 1 })
  const m = await got
  assert.equal(m.payload, 'eco')
  assert.equal(m.packet.retain, true)
  await pub.publishAsync('site/config/mode', '', { qos: 1, retain: true })
  const sub2 = await mqtt.connectAsync(gw.url, { clientId: 'app-ret2' })
  let received = false
  sub2.on('message', () => {
    received = true
  })
  await sub2.subscribeAsync('site/config/#', { qos: 1 })
  await new Promise(resolve => setTimeout(resolve, 300))
  assert.equal(received, false)
  await Promise.all([pub.endAsync(), sub.endAsync(), sub2.endAsync()])
})

test('a will is published when a client vanishes without DISCONNECT', async () => {
  const sub = await mqtt.connectAsync(gw.url, { clientId: 'app-will' })
  await sub.subscribeAsync('devices/+/status', { qos: 1 })
  const dying = await mqtt.connectAsync(gw.url, {
    clientId: 'dev-will',
    will: { topic: 'devices/dev-will/status', payload: Buffer.from('offline'), qos: 1, retain: false }
  })
  const got = nextMessage(sub)
  dying.stream.destroy()
  const m = await got
  assert.equal(m.payload, 'offline')
  await sub.endAsync()
  dying.end(true)
})

test('a persistent session gets QoS 1 messages queued while it was offline', async () => {
  const opts = { clientId: 'app-persist', clean: false }
  const s1 = await mqtt.connectAsync(gw.url, opts)
  await s1.subscribeAsync('devices/+/alarm', { qos: 1 })
  await s1.endAsync()
  const pub = await mqtt.connectAsync(gw.url, { clientId: 'dev-alarm' })
  await pub.publishAsync('devices/dev-alarm/alarm', 'fire-1', { qos: 1 })
  await pub.publishAsync('devices/dev-alarm/alarm', 'fire-2', { qos: 1 })
  const s2 = mqtt.connect(gw.url, { ...opts, manualConnect: true })
  const msgs: string[] = []
  const both = new Promise<void>(resolve =>
    s2.on('message', (_t, p) => {
      msgs.push(p.toString())
      if (msgs.length === 2) resolve()
    })
  )
  const connack = new Promise<boolean>(resolve => s2.once('connect', p => resolve(p.sessionPresent)))
  s2.connect()
  assert.equal(await connack, true, 'session present')
  await both
  assert.deepEqual(msgs, ['fire-1', 'fire-2'])
  await Promise.all([pub.endAsync(), s2.endAsync()])
})

test('$ topics: # does not match them, $SYS can be read, clients cannot publish into $SYS', async () => {
  const c = await mqtt.connectAsync(gw.url, { clientId: 'app-sys' })
  const seen: string[] = []
  c.on('message', t => seen.push(t))
  await c.subscribeAsync('#', { qos: 0 }) // [MQTT-4.7.2-1]
  await c.publishAsync('devices/x/t', '{"ts":1}', { qos: 1 })
  await new Promise(resolve => setTimeout(resolve, 200))
  assert.ok(seen.includes('devices/x/t'))
  assert.ok(!seen.some(t => t.startsWith('$')))
  const before = (await gw.status()).counters.dropped.acl_denied as number
  const closed = new Promise<void>(resolve => c.once('close', () => resolve()))
  c.publish('$SYS/fake', 'x', { qos: 1 })
  await closed
  assert.equal((await gw.status()).counters.dropped.acl_denied, before + 1)
  c.end(true)
})

test('anonymous clients are refused unless --allow-anonymous is given', async () => {
  const secure = await GatewayProcess.start({ anonymous: false })
  try {
    await assert.rejects(mqtt.connectAsync(secure.url, { clientId: 'anon', reconnectPeriod: 0 }), /Not authorized/)
    assert.equal((await secure.status()).counters.authFailures, 1)
  } finally {
    await secure.stop()
  }
})
