import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { generate, parser, type Packet } from 'mqtt-packet'
import { GatewayProcess } from './harness/gateway.js'
import { connectAs, devicesConfig, eventually, hashCheap, secretOf, sleep, writeConfig } from './harness/devices.js'

// The client's own Receive Maximum (README "MQTT 5"): the gateway never has more unacknowledged
// QoS 1/2 messages in flight to an MQTT 5 client than it asked for [MQTT-3.3.4-9]; the rest wait, in order.
let gw: GatewayProcess
before(async () => {
  const config = writeConfig({
    devices: await devicesConfig(['pump-1', 'pump-2']),
    apps: {
      dash: { passwordHash: await hashCheap('dash-secret'), read: ['devices/#'], write: ['devices/+/cmd/#'] }
    }
  })
  gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
})
after(async () => {
  await gw.stop()
})

/**
 * An MQTT 5 client (mqtt-packet over TCP, as mqtt.js uses) that acknowledges each message (PUBACK, or
 * PUBREC for QoS 2, PUBCOMP on PUBREL) only when the test says so, and reads on meanwhile.
 */
interface Slow {
  /** Payloads of the PUBLISHes received, in order. */
  received: string[]
  ack: (n?: number) => void
  subscribe: (filter: string, qos: 1 | 2) => Promise<void>
  end: () => void
}

async function slowClient(
  id: string,
  opts: { protocolVersion?: 4 | 5; clean?: boolean; properties?: Record<string, number> }
): Promise<Slow> {
  const protocolVersion = opts.protocolVersion ?? 5
  const wire = { protocolVersion }
  const socket = connect({ host: '127.0.0.1', port: gw.mqttPort })
  const send = (p: Record<string, unknown>): void => {
    socket.write(generate(p as unknown as Parameters<typeof generate>[0], wire))
  }
  const received: string[] = []
  const pending: Array<{ messageId: number; qos: number }> = []
  const waiting = new Map<string, () => void>()
  const p = parser(wire)
  p.on('packet', (pk: Packet) => {
    if (pk.cmd === 'publish') {
      received.push(pk.payload.toString())
      if (pk.qos > 0) pending.push({ messageId: pk.messageId!, qos: pk.qos })
    } else if (pk.cmd === 'pubrel') send({ cmd: 'pubcomp', messageId: pk.messageId })
    else if (pk.cmd === 'connack' || pk.cmd === 'suback') waiting.get(pk.cmd)?.()
  })
  socket.on('data', d => p.parse(d))
  socket.on('error', () => {})
  const next = async (cmd: string): Promise<void> =>
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${cmd}`)), 5000)
      waiting.set(cmd, () => {
        clearTimeout(t)
        resolve()
      })
    })
  const app = id.startsWith('dash')
  const connack = next('connack')
  send({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion,
    clientId: id,
    clean: opts.clean ?? true,
    keepalive: 30,
    username: app ? 'dash' : id,
    password: Buffer.from(app ? 'dash-secret' : secretOf(id)),
    ...(opts.properties !== undefined ? { properties: opts.properties } : {})
  })
  await connack
  return {
    received,
    ack: (n = 1) => {
      for (let i = 0; i < n && pending.length > 0; i++) {
        const m = pending.shift()!
        send({ cmd: m.qos === 1 ? 'puback' : 'pubrec', messageId: m.messageId })
      }
    },
    subscribe: async (filter, qos) => {
      const suback = next('suback')
      send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] })
      await suback
    },
    end: () => {
      send({ cmd: 'disconnect' })
      socket.end()
    }
  }
}

async function publishN(topic: string, id: string, n: number, qos: 1 | 2): Promise<string[]> {
  const pub = await connectAs(gw.url, id, id === 'dash' ? { clientId: 'dash-pub', password: 'dash-secret' } : {})
  const sent: string[] = []
  for (let i = 0; i < n; i++) {
    sent.push(`{"n":${i}}`)
    await pub.publishAsync(topic, sent.at(-1)!, { qos })
  }
  await pub.endAsync()
  return sent
}

test('QoS 1: no more than the client’s Receive Maximum unacknowledged; each PUBACK lets the next one go, in order', async () => {
  const s = await slowClient('dash-rm1', { protocolVersion: 5, properties: { receiveMaximum: 2 } })
  await s.subscribe('devices/pump-1/telemetry', 1)
  const sent = await publishN('devices/pump-1/telemetry', 'pump-1', 6, 1)
  await eventually(() => s.received.length >= 2, 5000, 'two')
  await sleep(500)
  assert.deepEqual(s.received, sent.slice(0, 2))
  s.ack()
  await eventually(() => s.received.length === 3, 5000, 'third after one PUBACK')
  await sleep(300)
  assert.equal(s.received.length, 3)
  for (let i = 0; i < 6; i++) {
    s.ack()
    await sleep(50)
  }
  await eventually(() => s.received.length === 6, 5000, 'all')
  assert.deepEqual(s.received, sent)
  s.end()
})

test('QoS 2: a message stays in flight until its PUBCOMP', async () => {
  const s = await slowClient('dash-rm2', { protocolVersion: 5, properties: { receiveMaximum: 1 } })
  await s.subscribe('devices/pump-1/telemetry', 2)
  const sent = await publishN('devices/pump-1/telemetry', 'pump-1', 3, 2)
  await eventually(() => s.received.length >= 1, 5000, 'one')
  await sleep(500)
  assert.deepEqual(s.received, sent.slice(0, 1))
  s.ack()
  await eventually(() => s.received.length === 2, 5000, 'second after PUBREC/PUBREL/PUBCOMP')
  s.ack()
  await eventually(() => s.received.length === 3, 5000, 'third')
  assert.deepEqual(s.received, sent)
  s.end()
})

test('a resumed session’s queued commands also respect the Receive Maximum', async () => {
  const session = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 300 } }
  const first = await connectAs(gw.url, 'pump-2', session)
  await first.subscribeAsync('devices/pump-2/cmd/#', { qos: 1 })
  await first.endAsync()
  const sent = await publishN('devices/pump-2/cmd/set', 'dash', 8, 1)
  const s = await slowClient('pump-2', { clean: false, properties: { sessionExpiryInterval: 300, receiveMaximum: 3 } })
  await eventually(() => s.received.length >= 3, 5000, 'three')
  await sleep(500)
  assert.deepEqual(s.received, sent.slice(0, 3))
  for (let i = 0; i < 8; i++) {
    s.ack()
    await sleep(50)
  }
  await eventually(() => s.received.length === 8, 5000, 'all')
  assert.deepEqual(s.received, sent)
  s.end()
})

test('without a Receive Maximum (and over 3.1.1) nothing waits; past 1000 waiting a message is not sent, counted', async () => {
  const v5 = await slowClient('dash-rm3', { protocolVersion: 5 })
  const v4 = await slowClient('dash-rm4', { protocolVersion: 4 })
  await v5.subscribe('devices/pump-1/telemetry', 1)
  await v4.subscribe('devices/pump-1/telemetry', 1)
  const sent = await publishN('devices/pump-1/telemetry', 'pump-1', 5, 1)
  await eventually(() => v5.received.length === 5 && v4.received.length === 5, 5000, 'all at once')
  v5.end()
  v4.end()
  assert.deepEqual(v5.received, sent)

  const before = (await gw.status()).counters.refused.forward_queue_full ?? 0
  const s = await slowClient('dash-rm5', { protocolVersion: 5, properties: { receiveMaximum: 1 } })
  await s.subscribe('devices/pump-1/cmd/#', 1)
  await publishN('devices/pump-1/cmd/x', 'dash', 1005, 1)
  // One in flight, 1000 waiting, 4 not sent.
  await eventually(
    async () => (await gw.status()).counters.refused.forward_queue_full === before + 4,
    10_000,
    'four counted'
  )
  assert.equal(s.received.length, 1)
  s.end()
})
