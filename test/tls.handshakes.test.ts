import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { GatewayProcess } from './harness/gateway.js'
import { freePort } from './harness/ports.js'
import { readBuffer } from './harness/db.js'
import { devicesConfig, eventually, secretOf, writeConfig } from './harness/devices.js'
import { connectPacket, publishPacket } from './harness/mqtt-raw.js'
import { Pki } from './harness/pki.js'

// Silent and half-spoken TLS sockets must not hold the connection budget: each is closed after
// mqtt.connectTimeoutMs, and one address may keep only so many handshakes open at once.
const pki = new Pki()
let gw: GatewayProcess
let tlsPort: number
const MAX_CONNECTIONS = 50
before(async () => {
  pki.ca('ca').issue('server', 'ca', '/CN=holdfast-test', 'IP:127.0.0.1')
  tlsPort = await freePort()
  const config = writeConfig({
    devices: await devicesConfig(['pump-1', 'pump-2']),
    mqtt: {
      connectTimeoutMs: 4000,
      maxConnections: MAX_CONNECTIONS,
      tls: { port: tlsPort, certFile: pki.path('server.crt'), keyFile: pki.path('server.key') }
    }
  })
  gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
})
after(async () => {
  await gw?.stop()
})

interface Held {
  socket: Socket
  closed: boolean
}

async function openSilent(from: string): Promise<Held> {
  const socket = netConnect({ host: '127.0.0.1', port: tlsPort, localAddress: from })
  const h: Held = { socket, closed: false }
  socket.on('error', () => {})
  socket.on('close', () => {
    h.closed = true
  })
  await new Promise<void>(resolve => {
    socket.once('connect', () => resolve())
    socket.once('close', () => resolve())
  })
  return h
}

/** A device over TLS from `from`: CONNECT with its secret, one QoS 1 publish; resolves with the CONNACK code and whether PUBACK came. */
async function tlsDevice(from: string, id: string, ts: number): Promise<{ connack: number; puback: boolean }> {
  const raw = netConnect({ host: '127.0.0.1', port: tlsPort, localAddress: from })
  raw.on('error', () => {})
  const s = tlsConnect({
    socket: raw,
    servername: 'holdfast-test',
    ca: pki.pem('ca.crt'),
    checkServerIdentity: () => undefined
  })
  const received: Buffer[] = []
  s.on('data', d => received.push(d))
  s.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    s.once('secureConnect', () => resolve())
    s.once('close', () => reject(new Error('closed before the handshake finished')))
  })
  s.write(connectPacket(id, id, secretOf(id)))
  s.write(publishPacket(`devices/${id}/telemetry`, JSON.stringify({ ts, via: 'tls' }), 1, 7))
  let out = { connack: -1, puback: false }
  await eventually(
    () => {
      const all = Buffer.concat(received)
      out = { connack: all[0] === 0x20 ? all[3]! : -1, puback: all.subarray(4).includes(0x40) }
      return out.connack > 0 || out.puback
    },
    5000,
    'CONNACK and PUBACK'
  ).catch(() => {})
  s.destroy()
  return out
}

test('silent TLS sockets from one address take at most half the connection budget and are closed after connectTimeoutMs', {
  timeout: 90_000
}, async () => {
  // A partial ClientHello: the record header promises 512 bytes, 5 arrive.
  const partial = await openSilent('127.0.0.1')
  partial.socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03]))
  const silent: Held[] = []
  for (let i = 0; i < MAX_CONNECTIONS; i++) silent.push(await openSilent('127.0.0.1'))

  // Half the budget went to unfinished handshakes; the rest was refused at once and counted.
  await eventually(() => silent.filter(h => h.closed).length === MAX_CONNECTIONS / 2 + 1, 3000, 'refusals')
  assert.equal(partial.closed, false)
  assert.equal((await gw.status()).counters.refused.tls_handshake_limit, MAX_CONNECTIONS / 2 + 1)
  await eventually(() => /"code":"HF_ERR_TLS_HANDSHAKE_LIMIT"/.test(gw.log()), 5000, 'logged')

  // Meanwhile a device from another address still gets in and its reading is acknowledged.
  const other = await tlsDevice('127.0.0.2', 'pump-1', 1700000000001)
  assert.deepEqual(other, { connack: 0, puback: true })

  // Every unfinished handshake is closed by the connect timeout, the partial ClientHello too.
  await eventually(() => silent.every(h => h.closed) && partial.closed, 10_000, 'all silent TLS sockets closed')
  assert.ok((await gw.status()).counters.refused.connect_timeout >= MAX_CONNECTIONS / 2)

  // Finished handshakes no longer count: more TLS connections than the cap may be open at once.
  const refusedBefore = (await gw.status()).counters.refused.tls_handshake_limit
  const secured: Array<ReturnType<typeof tlsConnect>> = []
  for (let i = 0; i < MAX_CONNECTIONS / 2 + 5; i++) {
    secured.push(
      await new Promise((resolve, reject) => {
        const raw = netConnect({ host: '127.0.0.1', port: tlsPort, localAddress: '127.0.0.3' })
        raw.on('error', () => {})
        const t = tlsConnect({ socket: raw, ca: pki.pem('ca.crt'), checkServerIdentity: () => undefined })
        t.on('error', () => {})
        t.once('secureConnect', () => resolve(t))
        t.once('close', () => reject(new Error('closed before the handshake finished')))
      })
    )
  }
  assert.equal((await gw.status()).counters.refused.tls_handshake_limit, refusedBefore)
  for (const t of secured) t.destroy()

  // The address is welcome again once its sockets are gone.
  const again = await tlsDevice('127.0.0.1', 'pump-2', 1700000000002)
  assert.deepEqual(again, { connack: 0, puback: true })
  const stored = readBuffer(gw.dataDir).map(r => r.device)
  assert.deepEqual(stored.sort(), ['pump-1', 'pump-2'])
})
