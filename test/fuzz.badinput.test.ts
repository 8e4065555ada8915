import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import {
  closed,
  connectAs,
  devicesConfig,
  eventually,
  secretOf,
  sleep,
  subackCodes,
  writeConfig
} from './harness/devices.js'
import {
  closesWithin,
  openRaw,
  packetsIn,
  publish5Packet,
  publishPacket,
  rawLogin,
  rawLogin5,
  subscribePacket,
  varint,
  type Raw
} from './harness/mqtt-raw.js'

// Each kind of bad input gets a clear, counted outcome and costs the gateway nothing else.
let gw: GatewayProcess
before(async () => {
  const config = writeConfig({
    devices: await devicesConfig(['dev-1', 'dev-2', 'dev-3', 'dev-4', 'dev-small'], id =>
      id === 'dev-small' ? { quota: { maxPayloadBytes: 1024 } } : {}
    ),
    mqtt: { maxPayloadBytes: 65_536, maxSubscriptionsPerClient: 5, maxRetainedPerClient: 3, connectTimeoutMs: 500 }
  })
  gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
})
after(async () => {
  await gw.stop()
})

const device = async (id: string): Promise<any> => (await gw.status()).devices.find((d: any) => d.id === id)
const login = async (id: string): Promise<Raw> => {
  const { raw, code } = await rawLogin(gw.mqttPort, id, id, secretOf(id))
  assert.equal(code, 0)
  return raw
}

test("oversized payloads: over the device's own limit or the gateway's, refused and counted, connection closed", async () => {
  const small = await connectAs(gw.url, 'dev-small')
  const gone = closed(small)
  small.publish('devices/dev-small/blob', Buffer.alloc(2000, 1), { qos: 1 })
  await gone
  const big = await connectAs(gw.url, 'dev-1')
  const gone2 = closed(big)
  big.publish('devices/dev-1/blob', Buffer.alloc(70_000, 1), { qos: 1 })
  await gone2
  assert.equal((await device('dev-small')).dropped.payload_too_large, 1)
  assert.equal((await device('dev-small')).quota.limits.maxPayloadBytes, 1024)
  assert.equal((await device('dev-1')).dropped.payload_too_large, 1)
  assert.ok(!readBuffer(gw.dataDir).some(r => r.topic.endsWith('/blob')))
})

test('a packet announcing 200 MB is refused at its header, not buffered', async () => {
  const raw = await login('dev-2')
  raw.socket.write(Buffer.concat([Buffer.from([0x32]), varint(200 * 1024 * 1024), Buffer.alloc(100, 7)]))
  assert.ok(await closesWithin(raw, 2000), 'closed at once')
  const s = await gw.status()
  assert.equal(s.counters.refused.packet_too_large, 1)
  assert.equal((await device('dev-2')).dropped.payload_too_large, 1)
})

test('malformed packets close the connection and are counted, before and after CONNECT', async () => {
  const before = (await gw.status()).counters.refused.protocol_error
  const raw = await login('dev-3')
  raw.socket.write(Buffer.from([0x36, 0x02, 0x00, 0x00])) // PUBLISH with both QoS bits set [MQTT-3.3.1-4]
  assert.ok(await closesWithin(raw, 2000))
  const pre = await openRaw(gw.mqttPort)
  pre.socket.write(Buffer.from([0x82, 0x05, 0, 1, 0, 1, 0x61])) // SUBSCRIBE before CONNECT [MQTT-3.1.0-1]
  assert.ok(await closesWithin(pre, 2000))
  const junk = await openRaw(gw.mqttPort)
  junk.socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
  assert.ok(await closesWithin(junk, 2000))
  await eventually(
    async () => (await gw.status()).counters.refused.protocol_error - before === 3,
    2000,
    'three protocol errors counted'
  )
})

/** An MQTT 5 login over a raw socket: the CONNACK's reason code must be 0. */
async function login5(id: string): Promise<Raw> {
  const { raw, code } = await rawLogin5(gw.mqttPort, id, id, secretOf(id))
  assert.equal(code, 0)
  return raw
}

test('MQTT 5 properties cut short or running past their end: that connection closes as a protocol error, nothing is stored, the gateway serves on', async () => {
  const before = (await gw.status()).counters.refused.protocol_error
  const storedBefore = readBuffer(gw.dataDir).filter(r => r.device === 'dev-1').length
  // [name, properties block, payload]: each value claims more bytes than its properties hold.
  const cases: Array<[string, number[], string]> = [
    // Once a Response Topic cut short at the packet's end reached aedes as null and made the gateway exit.
    ['Response Topic cut short', [0x08, 0x00, 0x10, 0x61], 'x'],
    ['Response Topic running into the payload', [0x08, 0x00, 0x05, 0x61], '{"v":1,"w":2}'],
    ['Content Type cut short', [0x03, 0x00, 0x10], 'x'],
    ['Correlation Data cut short', [0x09, 0x00, 0x10], 'x'],
    ['User Property value cut short', [0x26, 0x00, 0x01, 0x61, 0x00, 0x09], 'x'],
    ['Message Expiry Interval running into the payload', [0x02, 0x00, 0x01], '{"v":1}']
  ]
  for (const [name, props, payload] of cases) {
    const raw = await login5('dev-1')
    raw.socket.write(publish5Packet('devices/dev-1/t', payload, 1, 1, Buffer.from(props)))
    assert.ok(await closesWithin(raw, 2000), `${name}: the connection is closed`)
    assert.ok(!packetsIn(Buffer.concat(raw.received)).some(p => p.type === 4), `${name}: no PUBACK`)
  }
  await eventually(
    async () => (await gw.status()).counters.refused.protocol_error - before === cases.length,
    2000,
    'each counted as a protocol error'
  )
  const c = await connectAs(gw.url, 'dev-2', { protocolVersion: 5 })
  await c.publishAsync('devices/dev-2/t', '{"v":1}', { qos: 1 })
  await c.endAsync()
  assert.equal(readBuffer(gw.dataDir).filter(r => r.device === 'dev-1').length, storedBefore, 'none of them stored')
})

test('topics that are not UTF-8: a publish is dropped as invalid_topic, a subscription refused; both close the connection', async () => {
  const raw = await login('dev-4')
  raw.socket.write(
    publishPacket(
      Buffer.concat([Buffer.from('devices/dev-4/'), Buffer.from([0xff, 0xfe, 0x41])]),
      '{"ts":1700000000000}',
      1,
      7
    )
  )
  assert.ok(await closesWithin(raw, 2000))
  const raw2 = await login('dev-4')
  raw2.socket.write(subscribePacket(3, [Buffer.concat([Buffer.from('devices/dev-4/cmd/'), Buffer.from([0xc3, 0x28])])]))
  assert.ok(await closesWithin(raw2, 2000))
  const s = await gw.status()
  assert.equal((await device('dev-4')).dropped.invalid_topic, 1)
  assert.equal(s.counters.refused.invalid_topic, 1)
  assert.ok(!readBuffer(gw.dataDir).some(r => r.device === 'dev-4'))
})

test('subscription floods stop at the per-connection cap (SUBACK 0x80), unsubscribing frees room', async () => {
  const c = await connectAs(gw.url, 'dev-1')
  const filters = Array.from({ length: 8 }, (_, i) => `devices/dev-1/cmd/${i}`)
  assert.deepEqual(await subackCodes(c, filters), [1, 1, 1, 1, 1, 128, 128, 128])
  await c.unsubscribeAsync(['devices/dev-1/cmd/0', 'devices/dev-1/cmd/1'])
  assert.deepEqual(
    await subackCodes(c, ['devices/dev-1/cmd/x', 'devices/dev-1/cmd/y', 'devices/dev-1/cmd/z']),
    [1, 1, 128]
  )
  assert.equal((await gw.status()).counters.refused.subscription_limit, 4)
  await c.endAsync()
})

test('retained-topic floods stop at the per-client cap; clearing a retained topic frees room', async () => {
  const c = await connectAs(gw.url, 'dev-3')
  for (let i = 0; i < 3; i++)
    await c.publishAsync(`devices/dev-3/state/${i}`, `{"ts":${1_700_000_000_000 + i}}`, { qos: 1, retain: true })
  await c.publishAsync('devices/dev-3/state/0', '', { qos: 1, retain: true }) // clears one
  await c.publishAsync('devices/dev-3/state/3', '{"ts":1700000000003}', { qos: 1, retain: true })
  const gone = closed(c)
  c.publish('devices/dev-3/state/4', '{"ts":1700000000004}', { qos: 1, retain: true })
  await gone
  assert.equal((await device('dev-3')).dropped.retained_limit, 1)
  await gw.waitForLog(/"code":"HF_ERR_RETAINED_LIMIT"/)
})

test('a socket that never sends CONNECT is closed after mqtt.connectTimeoutMs and counted', async () => {
  const before = (await gw.status()).counters.refused.connect_timeout
  const raw = await openRaw(gw.mqttPort)
  const ms = await raw.closed
  assert.ok(ms >= 400 && ms < 3000, `closed after ${ms} ms`)
  assert.equal((await gw.status()).counters.refused.connect_timeout - before, 1)
})

test('connection floods: a cap on open connections and on new connections per second per address', async () => {
  const g = await GatewayProcess.start({
    anonymous: false,
    args: ['--mqtt-max-connections', '20', '--mqtt-conn-rate-per-address', '0.1', '--mqtt-conn-burst-per-address', '25']
  })
  const raws: Raw[] = []
  try {
    for (let i = 0; i < 30; i++) raws.push(await openRaw(g.mqttPort).catch(() => null as unknown as Raw))
    const open = raws.filter(r => r !== null)
    const shut = await Promise.all(open.map(async r => await closesWithin(r, 300)))
    assert.equal(shut.filter(Boolean).length + (30 - open.length), 10, 'ten over the cap were refused')
    assert.equal((await g.status()).counters.refused.conn_limit, 10)
    for (const r of open) r.socket.destroy()
    await sleep(200)
    // 20 of the address's burst of 25 are spent: of 10 new ones, 5 get in.
    const more: Raw[] = []
    for (let i = 0; i < 10; i++) more.push(await openRaw(g.mqttPort))
    const shut2 = await Promise.all(more.map(async r => await closesWithin(r, 300)))
    assert.equal(shut2.filter(Boolean).length, 5)
    const s = await g.status()
    assert.equal(s.counters.refused.conn_rate, 5)
    await g.waitForLog(/"code":"HF_ERR_CONN_LIMIT"/)
    await g.waitForLog(/"code":"HF_ERR_CONN_RATE"/)
    for (const r of more) r.socket.destroy()
  } finally {
    await g.stop()
  }
})
