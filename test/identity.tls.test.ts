import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { freePort } from './harness/ports.js'
import { readBuffer } from './harness/db.js'
import { closed, devicesConfig, secretOf, writeConfig } from './harness/devices.js'
import { Pki } from './harness/pki.js'

// A throwaway PKI (test/harness/pki.ts): a CA the gateway trusts, a rogue CA it does not.
const pki = new Pki()
const pem = (f: string): Buffer => pki.pem(f)

let gw: GatewayProcess
let tlsUrl: string
before(async () => {
  pki
    .ca('ca')
    .ca('rogue')
    .issue('server', 'ca', '/CN=holdfast-test', 'IP:127.0.0.1,DNS:localhost')
    .issue('pump-1', 'ca', '/CN=pump-1')
    .issue('pump-2', 'ca', '/CN=pump-2')
    .issue('press', 'ca', '/CN=Press Unit 7', 'DNS:press-7')
    .issue('fake-pump-1', 'rogue', '/CN=pump-1')
  const tlsPort = await freePort()
  tlsUrl = `mqtts://127.0.0.1:${tlsPort}`
  const config = writeConfig({
    devices: await devicesConfig(['pump-2', 'pump-3']),
    mqtt: {
      tls: {
        port: tlsPort,
        certFile: pki.path('server.crt'),
        keyFile: pki.path('server.key'),
        caFile: pki.path('ca.crt')
      }
    }
  })
  gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
})
after(async () => {
  await gw?.stop()
})

const tlsOpts = (certName?: string): mqtt.IClientOptions => ({
  ca: pem('ca.crt'),
  rejectUnauthorized: true,
  reconnectPeriod: 0,
  connectTimeout: 5000,
  ...(certName !== undefined ? { cert: pem(`${certName}.crt`), key: pem(`${certName}.key`) } : {})
})

test('a device logs in with its client certificate alone; the id comes from the CN', async () => {
  const c = await mqtt.connectAsync(tlsUrl, { ...tlsOpts('pump-1'), clientId: 'pump-1' })
  await c.publishAsync('devices/pump-1/telemetry', '{"ts":1700000000000,"via":"tls"}', { qos: 1 })
  await c.endAsync()
  const rows = readBuffer(gw.dataDir).filter(r => r.device === 'pump-1')
  assert.equal(rows.length, 1)
  assert.equal(JSON.parse(rows[0]!.payload.toString()).via, 'tls')
})

test('the id may come from a DNS subjectAltName when the CN is not a device id', async () => {
  const c = await mqtt.connectAsync(tlsUrl, { ...tlsOpts('press'), clientId: 'press-7' })
  await c.publishAsync('devices/press-7/telemetry', '{"ts":1700000000001}', { qos: 1 })
  await c.endAsync()
  assert.equal(readBuffer(gw.dataDir).filter(r => r.device === 'press-7').length, 1)
})

test('a certificate for one id cannot act as another: neither by user name nor by topic', async () => {
  // pump-1's certificate with pump-2's user name and secret: refused outright.
  await assert.rejects(
    mqtt.connectAsync(tlsUrl, {
      ...tlsOpts('pump-1'),
      clientId: 'pump-2',
      username: 'pump-2',
      password: secretOf('pump-2')
    }),
    /Not authorized/
  )
  // pump-2's certificate publishing under pump-1: connection closed, nothing stored.
  const c = await mqtt.connectAsync(tlsUrl, { ...tlsOpts('pump-2'), clientId: 'pump-2' })
  const gone = closed(c)
  c.publish('devices/pump-1/telemetry', '{"ts":1700000000002,"spoof":true}', { qos: 1 })
  await gone
  c.end(true)
  const s = await gw.status()
  assert.equal(s.counters.refused.cert_mismatch, 1)
  assert.equal(s.devices.find((d: any) => d.id === 'pump-2').denials, 1)
  assert.ok(!readBuffer(gw.dataDir).some(r => r.payload.toString().includes('spoof')))
  await gw.waitForLog(/"code":"HF_ERR_AUTH_CERT_MISMATCH"/)
})

test('a certificate from an unknown CA names nobody: without a secret the client is refused', async () => {
  await assert.rejects(mqtt.connectAsync(tlsUrl, { ...tlsOpts('fake-pump-1'), clientId: 'pump-1' }), /Not authorized/)
  assert.equal((await gw.status()).counters.refused.anonymous, 1)
})

test('over TLS without a client certificate a device logs in with its secret, and plain TCP still works', async () => {
  const c = await mqtt.connectAsync(tlsUrl, {
    ...tlsOpts(),
    clientId: 'pump-3',
    username: 'pump-3',
    password: secretOf('pump-3')
  })
  await c.publishAsync('devices/pump-3/telemetry', '{"ts":1700000000003}', { qos: 1 })
  await c.endAsync()
  await assert.rejects(
    mqtt.connectAsync(tlsUrl, { ...tlsOpts(), clientId: 'pump-3', username: 'pump-3', password: 'wrong-one' }),
    /Bad username or password/
  )
  const plain = await mqtt.connectAsync(gw.url, {
    clientId: 'pump-2',
    username: 'pump-2',
    password: secretOf('pump-2'),
    reconnectPeriod: 0
  })
  await plain.publishAsync('devices/pump-2/telemetry', '{"ts":1700000000004}', { qos: 1 })
  await plain.endAsync()
  assert.equal((await gw.status()).counters.stored, 4)
})
