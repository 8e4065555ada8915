import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, writeFileSync } from 'node:fs'
import { connect as tlsConnect } from 'node:tls'
import mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { freePort } from './harness/ports.js'
import { readBuffer } from './harness/db.js'
import { devicesConfig, eventually, secretOf, writeConfig } from './harness/devices.js'
import { Pki } from './harness/pki.js'

// A renewed certificate is taken from disk without a restart; sessions already open keep running.
let gw: GatewayProcess | undefined
after(async () => {
  await gw?.stop()
})

/** The subject CN of the certificate the TLS listener presents to a new connection. */
async function servedCn(port: number): Promise<string> {
  return await new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const cn = String(s.getPeerCertificate().subject?.CN ?? '')
      s.destroy()
      resolve(cn)
    })
    s.on('error', reject)
  })
}

test('the MQTT TLS listener picks up a renewed certificate and key; open sessions keep running; a broken renewal is refused', {
  timeout: 90_000
}, async () => {
  const pki = new Pki().ca('ca').issue('old', 'ca', '/CN=holdfast-old', 'IP:127.0.0.1')
  pki.issue('new', 'ca', '/CN=holdfast-new', 'IP:127.0.0.1')
  const certFile = pki.path('server.crt')
  const keyFile = pki.path('server.key')
  copyFileSync(pki.path('old.crt'), certFile)
  copyFileSync(pki.path('old.key'), keyFile)
  const tlsPort = await freePort()
  const config = writeConfig({
    devices: await devicesConfig(['pump-1', 'pump-2']),
    mqtt: { tls: { port: tlsPort, certFile, keyFile } }
  })
  gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  const url = `mqtts://127.0.0.1:${tlsPort}`
  const opts = (id: string): mqtt.IClientOptions => ({
    clientId: id,
    username: id,
    password: secretOf(id),
    ca: pki.pem('ca.crt'),
    reconnectPeriod: 0,
    connectTimeout: 5000
  })

  assert.equal(await servedCn(tlsPort), 'holdfast-old')
  const before = await mqtt.connectAsync(url, opts('pump-1'))
  await before.publishAsync('devices/pump-1/telemetry', '{"ts":1700000000001}', { qos: 1 })

  // The renewal lands on disk: certificate and key replaced in place.
  copyFileSync(pki.path('new.crt'), certFile)
  copyFileSync(pki.path('new.key'), keyFile)
  await eventually(async () => (await servedCn(tlsPort)) === 'holdfast-new', 15_000, 'renewed certificate served')
  await eventually(() => /mqtt tls certificate reloaded/.test(gw!.log()), 5000, 'logged')

  // The session opened before the renewal is still up and acknowledged; new sessions get the new certificate.
  assert.ok(before.connected, 'the old session was not closed')
  await before.publishAsync('devices/pump-1/telemetry', '{"ts":1700000000002}', { qos: 1 })
  const afterRenewal = await mqtt.connectAsync(url, opts('pump-2'))
  await afterRenewal.publishAsync('devices/pump-2/telemetry', '{"ts":1700000000003}', { qos: 1 })
  await Promise.all([before.endAsync(), afterRenewal.endAsync()])

  // A half-written renewal (a key that does not fit) is refused with a coded error; the last good one stays.
  writeFileSync(keyFile, pki.pem('old.key'))
  await eventually(() => /"code":"HF_ERR_TLS_CONFIG"/.test(gw!.log()), 15_000, 'broken renewal reported')
  assert.equal(await servedCn(tlsPort), 'holdfast-new')
  assert.equal(readBuffer(gw.dataDir).length, 3)
})
