import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { startKafka, type KafkaBroker } from './harness/kafka.js'
import { GatewayProcess, runCli } from './harness/gateway.js'
import { consumeAll, createTopic, dedupe } from './harness/consume.js'
import {
  createTopic as createConfigTopic,
  operatorKey,
  push,
  signed,
  StatusTopic,
  topicName
} from './harness/remote.js'
import { closed, eventually } from './harness/devices.js'
import { Pki } from './harness/pki.js'

// The uplink over TLS to a real Kafka broker with a private CA (PEM keystore, Kafka 4), SASL/PLAIN on
// top; a CA that does not match, fixed on disk while the gateway runs; SASL credentials rotated by
// a signed remote document, whose new secret is scrubbed like a configured one.
const pki = new Pki()
const PLAIN = { holdfast: 'first-sasl-pass-1', rotated: 'remote-sasl-Secret-4471' }
let kafka: KafkaBroker
before(async () => {
  pki.ca('ca').ca('rogue').issue('broker', 'ca', '/CN=kafka-test', 'IP:127.0.0.1,DNS:localhost')
  writeFileSync(pki.path('broker.pem'), Buffer.concat([pki.pem('broker.key'), pki.pem('broker.crt')]))
  kafka = await startKafka({ tls: { keystore: pki.path('broker.pem'), plainUsers: PLAIN } })
})
after(async () => {
  await kafka?.dispose()
})

const tlsKafka = (topic: string, caFile: string, user: keyof typeof PLAIN = 'holdfast'): Record<string, unknown> => ({
  brokers: kafka.saslSslBrokers,
  topic,
  ssl: true,
  caFile,
  saslMechanism: 'plain',
  saslUsername: user,
  saslPassword: PLAIN[user],
  requestTimeoutMs: 2000
})
const fastUplink = { backoffMinMs: 100, backoffMaxMs: 1000, probeIntervalMs: 1000 }

function configFile(doc: Record<string, unknown>): string {
  const file = join(mkdtempSync(join(tmpdir(), 'hf-kafka-tls-')), 'holdfast.json')
  writeFileSync(file, JSON.stringify(doc))
  return file
}

async function publish(gw: GatewayProcess, device: string, n: number, from = 0): Promise<void> {
  const c = await mqtt.connectAsync(gw.url, { clientId: `${device}-pub`, reconnectPeriod: 0 })
  for (let i = from; i < from + n; i++)
    await c.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ ts: 1700000000000 + i, n: i }), { qos: 1 })
  await c.endAsync()
}

async function forwardedToKafka(topic: string, device: string, n: number): Promise<number[]> {
  const { unique } = dedupe(await consumeAll(kafka, topic, { until: ids => ids >= n, timeoutMs: 30_000 }))
  return unique
    .filter(r => r.device === device)
    .map(r => (JSON.parse(r.payload.toString()) as { n: number }).n)
    .sort((a, b) => a - b)
}

test('kafka.ssl with kafka.caFile and SASL PLAIN: every acknowledged reading reaches the TLS listener', {
  timeout: 180_000
}, async () => {
  const topic = await createTopic(kafka, 'tls-uplink')
  const gw = await GatewayProcess.start({
    args: [
      '--config',
      configFile({ kafka: tlsKafka(topic, pki.path('ca.crt')), uplink: fastUplink, batch: { lingerMs: 20 } })
    ]
  })
  try {
    await publish(gw, 'meter-1', 20)
    await eventually(async () => (await gw.status()).counters.forwarded === 20, 30_000, 'forwarded over TLS')
    const s = await gw.status()
    assert.equal(s.uplink.state, 'connected')
    assert.deepEqual(
      await forwardedToKafka(topic, 'meter-1', 20),
      Array.from({ length: 20 }, (_, i) => i)
    )
  } finally {
    await gw.stop()
  }
})

test('a broker certificate the CA file does not trust is refused with HF_ERR_UPLINK_TLS; the renewed CA file is read without a restart', {
  timeout: 180_000
}, async () => {
  const topic = await createTopic(kafka, 'tls-wrong-ca')
  const caFile = join(mkdtempSync(join(tmpdir(), 'hf-ca-')), 'kafka-ca.pem')
  copyFileSync(pki.path('rogue.crt'), caFile)
  const gw = await GatewayProcess.start({
    args: ['--config', configFile({ kafka: tlsKafka(topic, caFile), uplink: fastUplink, batch: { lingerMs: 20 } })]
  })
  try {
    await publish(gw, 'meter-2', 10)
    await eventually(
      async () => /^HF_ERR_UPLINK_TLS: /.test((await gw.status()).uplink.lastError ?? ''),
      20_000,
      'coded TLS error in /api/status'
    )
    const s = await gw.status()
    assert.notEqual(s.uplink.state, 'connected')
    assert.match(s.uplink.lastError, /UNABLE_TO_VERIFY_LEAF_SIGNATURE/)
    assert.equal(s.counters.forwarded, 0)
    assert.equal(s.backlog.readings, 10, 'acknowledged readings wait in the buffer')
    await eventually(() => /"code":"HF_ERR_UPLINK_TLS"/.test(gw.log()), 10_000, 'coded failure logged')

    // The operator fixes the CA file in place: the next reconnect trusts the broker, nothing lost.
    copyFileSync(pki.path('ca.crt'), caFile)
    await eventually(async () => (await gw.status()).counters.forwarded === 10, 30_000, 'forwarded after the fix')
    assert.deepEqual(
      await forwardedToKafka(topic, 'meter-2', 10),
      Array.from({ length: 10 }, (_, i) => i)
    )
  } finally {
    await gw.stop()
  }
})

async function techLogin(gw: GatewayProcess, password: string): Promise<{ cookie: string; csrf: string }> {
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
        let body = ''
        res.on('data', d => {
          body += d
        })
        res.on('end', () => {
          const cookie = String(([] as string[]).concat(res.headers['set-cookie'] ?? [])[0] ?? '').split(';')[0]!
          resolve({ cookie, csrf: (JSON.parse(body) as { csrf: string }).csrf })
        })
      }
    )
    req.on('error', reject)
    req.end(JSON.stringify({ password }))
  })
}

async function diagnostics(gw: GatewayProcess, password: string): Promise<string> {
  const { cookie, csrf } = await techLogin(gw, password)
  const r = await fetch(`${gw.http}/api/diagnostics`, {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', 'x-csrf-token': csrf },
    body: `csrf=${encodeURIComponent(csrf)}`
  })
  assert.equal(r.status, 200)
  return await r.text()
}

test('SASL credentials rotated by a remote document: the new secret is scrubbed from /api/status and the diagnostics bundle', {
  timeout: 180_000
}, async () => {
  const topic = await createTopic(kafka, 'tls-rotated')
  const configTopic = topicName('config')
  await createConfigTopic(kafka, configTopic, { compact: true })
  const status = await StatusTopic.open(kafka, topicName('status'))
  const key = operatorKey()
  const techPassword = 'field-tech-Pa55word'
  const hash = (await runCli(['hash-password'], { input: `${techPassword}\n` })).stdout.trim()
  const gw = await GatewayProcess.start({
    args: [
      '--status-password-hash',
      hash,
      '--config',
      configFile({
        kafka: tlsKafka(topic, pki.path('ca.crt')),
        uplink: fastUplink,
        remote: {
          enabled: true,
          configTopic,
          statusTopic: status.topic,
          trustedKeys: [key.publicKey],
          heartbeatIntervalMs: 1500
        }
      })
    ]
  })
  try {
    await status.heartbeat(r => r.gatewayId === 'test-gw')
    await push(
      kafka,
      configTopic,
      'test-gw',
      signed(key, {
        gatewayId: 'test-gw',
        version: 1,
        confirmWindowS: 30,
        config: { kafka: tlsKafka(topic, pki.path('ca.crt'), 'rotated'), uplink: fastUplink }
      })
    )
    await status.event('confirmed v1', r => r.type === 'confirmed' && r.version === 1)
    await publish(gw, 'meter-3', 5)
    await eventually(async () => (await gw.status()).counters.forwarded === 5, 30_000, 'forwarded with the new login')

    // Any text that reaches the log view — here a topic a client sent, refused and logged — is scrubbed.
    const probe = await mqtt.connectAsync(gw.url, { clientId: 'probe', reconnectPeriod: 0 })
    const gone = closed(probe)
    probe.publish(`$SYS/probe/${PLAIN.rotated}`, 'x', { qos: 1 })
    await gone
    await eventually(() => gw.log().includes(PLAIN.rotated), 5000, 'the probe logged')

    const page = await (await fetch(`${gw.http}/api/status`)).text()
    assert.ok(page.includes('$SYS/probe/[redacted]'), 'the refused topic is shown, scrubbed')
    const bundle = await diagnostics(gw, techPassword)
    for (const [what, body] of [
      ['/api/status', page],
      ['diagnostics', bundle]
    ] as const) {
      assert.ok(!body.includes(PLAIN.rotated), `${what} shows the secret from the remote document`)
      assert.ok(!body.includes(PLAIN.holdfast), `${what} shows the configured secret`)
    }
  } finally {
    await gw.stop()
    await status.close()
  }
})
