import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { canonicalJson, checkDocument } from '../src/remote-config/document.js'
import {
  keyIdOf,
  loadTrustedKeys,
  parsePublicKey,
  publicKeyText,
  signDocument,
  verifyMessage
} from '../src/remote-config/verify.js'
import { effectiveConfig } from '../src/remote-config/apply.js'
import { loadConfig } from '../src/config/load.js'
import { isHoldfastError } from '../src/errors.js'

const pair = () => generateKeyPairSync('ed25519')
const wire = (o: unknown): Buffer => Buffer.from(JSON.stringify(o))
const doc = (over: Record<string, unknown> = {}) => ({
  gatewayId: 'gw-1',
  version: 3,
  confirmWindowS: 30,
  config: { kafka: { brokers: ['k:9092'] } },
  ...over
})

test('canonical JSON: sorted keys, no whitespace, arrays in order', () => {
  assert.equal(canonicalJson({ b: 1, a: [3, { d: 'x', c: null }], e: undefined }), '{"a":[3,{"c":null,"d":"x"}],"b":1}')
  assert.equal(canonicalJson({ a: 1.5e21, b: '\u00e9"' }), '{"a":1.5e+21,"b":"é\\""}')
})

test('signatures: verified over the parsed document, whatever the key order or whitespace', () => {
  const { publicKey, privateKey } = pair()
  const keys = [{ id: keyIdOf(publicKey), key: publicKey }]
  const signed = signDocument(doc(), privateKey)
  // Same document, re-ordered and pretty-printed: still valid.
  const reordered = {
    signature: signed.signature,
    document: { config: signed.document.config, version: 3, confirmWindowS: 30, gatewayId: 'gw-1' }
  }
  const v = verifyMessage(Buffer.from(JSON.stringify(reordered, null, 2)), keys)
  assert.equal(v.ok, true)

  const tampered = { ...signed, document: { ...signed.document, version: 4 } }
  assert.deepEqual(pick(verifyMessage(wire(tampered), keys)), { ok: false, reason: 'bad_signature' })
  assert.deepEqual(pick(verifyMessage(wire({ document: doc() }), keys)), { ok: false, reason: 'unsigned' })
  assert.deepEqual(pick(verifyMessage(Buffer.from('{nope'), keys)), { ok: false, reason: 'malformed' })
  const other = pair()
  assert.deepEqual(pick(verifyMessage(wire(signDocument(doc(), other.privateKey)), keys)), {
    ok: false,
    reason: 'untrusted_key'
  })
  // A trusted key id with someone else's signature is a bad signature, not a trusted document.
  const forged = {
    ...signDocument(doc(), other.privateKey),
    signature: { ...signDocument(doc(), other.privateKey).signature, keyId: keyIdOf(publicKey) }
  }
  assert.deepEqual(pick(verifyMessage(wire(forged), keys)), { ok: false, reason: 'bad_signature' })
})

function pick(v: { ok: boolean; reason?: string }): { ok: boolean; reason?: string } {
  return v.ok ? { ok: true } : { ok: false, reason: v.reason }
}

test('trusted keys: base64 SPKI, raw base64 and PEM are the same key; junk is a config error naming it', () => {
  const { publicKey } = pair()
  const spki = publicKeyText(publicKey)
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64')
  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString()
  for (const text of [spki, raw, pem]) assert.equal(keyIdOf(parsePublicKey(text)), keyIdOf(publicKey))
  const { config } = loadConfig({ env: {}, flags: { 'remote-enabled': true, 'remote-trusted-keys': spki } })
  assert.equal(loadTrustedKeys(config.remote).length, 1)
  assert.throws(
    () => loadConfig({ env: {}, flags: { 'remote-trusted-keys': 'not-a-key' } }),
    (e: unknown) => isHoldfastError(e, 'HF_ERR_CONFIG_INVALID') && /remote\.trustedKeys/.test(e.message)
  )
  const none = loadConfig({ env: {}, flags: { 'remote-enabled': true } }).config
  assert.throws(() => loadTrustedKeys(none.remote), /at least one trusted public key/)
})

test('document envelope: field errors name document.*', () => {
  const r = checkDocument({ gatewayId: 'a b', version: 0, confirmWindowS: 1, config: [], extra: 1 })
  assert.equal(r.doc, null)
  assert.deepEqual(r.errors.map(e => e.field).sort(), [
    'document.config',
    'document.confirmWindowS',
    'document.extra',
    'document.gatewayId',
    'document.version'
  ])
  assert.equal(checkDocument({ gatewayId: '*', version: 1, config: {} }).doc?.confirmWindowS, 60)
})

test("effective config: the document replaces the file's live settings; flags and env still win; local settings are refused", () => {
  const local = {
    flags: { 'batch-linger-ms': '7' },
    env: { HOLDFAST_KAFKA_SASL_PASSWORD: 'from-env' },
    fileDoc: {
      gatewayId: 'gw-1',
      mqtt: { port: 1999, maxRetainedPerClient: 9 },
      batch: { maxReadings: 10 },
      kafka: { brokers: ['old:9092'], topic: 'old' }
    }
  }
  const { config, overridden } = effectiveConfig(local, {
    kafka: { brokers: ['new:9092'], saslPassword: 'in-doc' },
    batch: { lingerMs: 50 },
    quota: { msgsPerS: 5 }
  })
  assert.equal(config.gatewayId, 'gw-1', 'local settings come from the file')
  assert.equal(config.mqtt.port, 1999)
  assert.equal(
    config.mqtt.maxRetainedPerClient,
    100,
    "a live setting the document leaves out takes its default, not the file's"
  )
  assert.deepEqual(config.kafka.brokers, ['new:9092'])
  assert.equal(config.kafka.topic, 'holdfast.telemetry')
  assert.equal(config.batch.maxReadings, 1000)
  assert.equal(config.batch.lingerMs, 7, 'a flag wins over the document')
  assert.equal(config.kafka.saslPassword, 'from-env', 'the environment wins over the document')
  assert.deepEqual(overridden.sort(), ['batch.lingerMs', 'kafka.saslPassword'])
  assert.equal(config.quota.msgsPerS, 5)

  assert.throws(
    () =>
      effectiveConfig(local, {
        gatewayId: 'x',
        mqtt: { port: 1 },
        http: { port: 2 },
        remote: { enabled: false },
        kafka: { brokers: ['k:1'] }
      }),
    (e: unknown) => {
      assert.ok(isHoldfastError(e, 'HF_ERR_CONFIG_INVALID'))
      const fields = (e.details.errors as Array<{ field: string }>).map(x => x.field).sort()
      assert.deepEqual(fields, ['gatewayId', 'http.port', 'mqtt.port', 'remote.enabled'])
      return true
    }
  )
  assert.throws(() => effectiveConfig(local, { kafka: { brokers: [] } }), /kafka\.brokers: must not be empty/)
  assert.throws(
    () =>
      effectiveConfig(local, {
        kafka: { brokers: ['k:1'] },
        devices: { 'pump-1': { quota: { msgsPerS: 0 } } },
        batch: { maxReadingz: 1 }
      }),
    (e: unknown) => {
      assert.ok(isHoldfastError(e, 'HF_ERR_CONFIG_INVALID'))
      assert.match(
        e.message,
        /devices\.pump-1\.quota\.msgsPerS: must be a number from 0\.01 to 1000000 \(got 0\) \(document\)/
      )
      assert.match(e.message, /batch\.maxReadingz: unknown key \(document\)/)
      return true
    }
  )
})
