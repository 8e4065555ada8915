import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { GatewayProcess, runCli } from './harness/gateway.js'
import { eventually, refusal, secretOf, writeConfig } from './harness/devices.js'
import { connectPacket, openRaw, rawLogin } from './harness/mqtt-raw.js'
import { hashSecret } from '../src/identity/secret.js'

// Login limits hold however the attempts are timed, and a refusal tells nothing by its timing.
// Secrets here use the production scrypt cost (N=16384), as a field gateway would.

const BAD = 4
const NOT_AUTHORIZED = 5

async function techLogin(gw: GatewayProcess, password: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: gw.httpPort,
        path: '/api/login',
        method: 'POST',
        headers: { 'content-type': 'application/json' }
      },
      res => {
        res.resume()
        res.on('end', () => resolve(res.statusCode!))
      }
    )
    req.on('error', reject)
    req.end(JSON.stringify({ password }))
  })
}

/** CONNECT and wait for the CONNACK's return code; a loaded machine may take long over 300 of them at once. */
async function connackCode(port: number, clientId: string, username: string, password: string): Promise<number> {
  const raw = await openRaw(port)
  raw.socket.write(connectPacket(clientId, username, password))
  try {
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      const all = Buffer.concat(raw.received)
      if (all.length >= 4 && all[0] === 0x20) return all[3]!
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    throw new Error('no CONNACK within 60 s')
  } finally {
    raw.socket.destroy()
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}

test('300 wrong MQTT secrets sent at once from one address meet authFailureBurst, as sequential ones do', {
  timeout: 90_000
}, async () => {
  const config = writeConfig({
    devices: { 'valve-1': { passwordHash: await hashSecret(secretOf('valve-1')) } },
    mqtt: { authFailureBurst: 20, authFailuresPerMin: 1 }
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    const codes = await Promise.all(
      Array.from(
        { length: 300 },
        async (_, i) => await connackCode(gw.mqttPort, `valve-1-${i}`, 'valve-1', `guess-${i}`)
      )
    )
    const s = await gw.status()
    // At most the burst (plus what one token a minute refills meanwhile) was checked with scrypt.
    assert.ok(s.counters.refused.bad_credentials <= 21, `checked ${s.counters.refused.bad_credentials}`)
    assert.ok(s.counters.refused.bad_credentials >= 20)
    assert.equal(s.counters.refused.bad_credentials + s.counters.refused.auth_rate_limited, 300)
    assert.equal(codes.filter(c => c === BAD).length, s.counters.refused.bad_credentials)
    assert.equal(codes.filter(c => c === NOT_AUTHORIZED).length, s.counters.refused.auth_rate_limited)
    // The budget is spent: even the right secret waits now.
    assert.match(
      await refusal(gw.url, { clientId: 'valve-1', username: 'valve-1', password: secretOf('valve-1') }),
      /Not authorized/
    )
    await eventually(() => /"code":"HF_ERR_AUTH_RATE_LIMITED"/.test(gw.log()), 5000, 'logged')
  } finally {
    await gw.stop()
  }
})

test('40 wrong technician passwords sent at once meet loginMaxFailures: the rest get 429 before any check', {
  timeout: 90_000
}, async () => {
  const hash = (await runCli(['hash-password'], { input: 'field-tech-Pa55word\n' })).stdout.trim()
  const gw = await GatewayProcess.start({
    statusPublic: false,
    args: ['--status-password-hash', hash, '--status-login-max-failures', '3', '--status-login-window-ms', '60000']
  })
  try {
    const codes = await Promise.all(Array.from({ length: 40 }, async (_, i) => await techLogin(gw, `wrong-pass-${i}`)))
    assert.equal(codes.filter(c => c === 401).length, 3)
    assert.equal(codes.filter(c => c === 429).length, 37)
    assert.equal(await techLogin(gw, 'field-tech-Pa55word'), 429, 'the right password waits too')
  } finally {
    await gw.stop()
  }
})

test('an unknown user name costs as much as a known one: device ids and the technician password cannot be probed by timing', {
  timeout: 90_000
}, async () => {
  const hash = (await runCli(['hash-password'], { input: 'field-tech-Pa55word\n' })).stdout.trim()
  const config = writeConfig({
    devices: { 'pump-1': { passwordHash: await hashSecret(secretOf('pump-1')) } },
    mqtt: { authFailureBurst: 1000 }
  })
  const gw = await GatewayProcess.start({
    anonymous: false,
    args: ['--config', config, '--status-password-hash', hash, '--status-login-max-failures', '1000']
  })
  try {
    const known: number[] = []
    const unknown: number[] = []
    const techWrong: number[] = []
    const techEmpty: number[] = []
    // Interleaved, so load on the machine weighs on both sides alike; compared with each other, never with a figure.
    for (let i = 0; i < 9; i++) {
      known.push(
        await timed(async () => (await rawLogin(gw.mqttPort, `p-${i}`, 'pump-1', 'wrong')).raw.socket.destroy())
      )
      unknown.push(
        await timed(async () => (await rawLogin(gw.mqttPort, `g-${i}`, `ghost-${i}`, 'wrong')).raw.socket.destroy())
      )
      techWrong.push(await timed(async () => assert.equal(await techLogin(gw, 'not-the-password'), 401)))
      techEmpty.push(await timed(async () => assert.equal(await techLogin(gw, ''), 401)))
    }
    const s = await gw.status()
    assert.equal(s.counters.refused.bad_credentials, 9)
    assert.equal(s.counters.refused.unknown_identity, 9)
    const ratio = median(unknown) / median(known)
    assert.ok(ratio > 0.5 && ratio < 2, `unknown/known CONNACK time ratio ${ratio.toFixed(2)}`)
    const techRatio = median(techEmpty) / median(techWrong)
    assert.ok(techRatio > 0.5 && techRatio < 2, `empty/wrong technician login time ratio ${techRatio.toFixed(2)}`)
  } finally {
    await gw.stop()
  }
})
