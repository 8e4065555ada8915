import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { canonicalJson, checkDocument, layerKeyOf } from '../src/remote-config/document.js'
import { layerOrder, mergeLayers, supersededLeaves } from '../src/remote-config/layers.js'
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
const HASH = 'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g='
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

test("effective config: layers merge over the box's file; flags and env still win; local settings are refused", () => {
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
  const layer = (config: Record<string, unknown>) => [{ key: 'gw-1', config }]
  const { config, overridden, origin } = effectiveConfig(
    local,
    layer({
      kafka: { brokers: ['new:9092'], saslPassword: 'in-doc' },
      batch: { lingerMs: 50 },
      quota: { msgsPerS: 5 }
    })
  )
  assert.equal(config.gatewayId, 'gw-1', 'local settings come from the file')
  assert.equal(config.mqtt.port, 1999)
  // Changed on purpose with layering: the file is the box's bottom layer, so what no layer sets keeps its file value.
  assert.equal(config.mqtt.maxRetainedPerClient, 9, "a live setting no layer sets keeps the file's value")
  assert.deepEqual(config.kafka.brokers, ['new:9092'])
  assert.equal(config.kafka.topic, 'old')
  assert.equal(config.batch.maxReadings, 10)
  assert.equal(config.batch.lingerMs, 7, 'a flag wins over the document')
  assert.equal(config.kafka.saslPassword, 'from-env', 'the environment wins over the document')
  assert.deepEqual(overridden, ['batch.lingerMs', 'kafka.saslPassword'])
  assert.equal(config.quota.msgsPerS, 5)
  assert.equal(origin.get('quota.msgsPerS'), 'gw-1')

  assert.throws(
    () =>
      effectiveConfig(
        local,
        layer({
          gatewayId: 'x',
          mqtt: { port: 1 },
          http: { port: 2 },
          remote: { enabled: false },
          kafka: { brokers: ['k:1'] }
        })
      ),
    (e: unknown) => {
      assert.ok(isHoldfastError(e, 'HF_ERR_CONFIG_INVALID'))
      const fields = (e.details.errors as Array<{ field: string }>).map(x => x.field).sort()
      assert.deepEqual(fields, ['gatewayId', 'http.port', 'mqtt.port', 'remote.enabled'])
      return true
    }
  )
  assert.throws(() => effectiveConfig(local, layer({ kafka: { brokers: [] } })), /kafka\.brokers: must not be empty/)
  assert.throws(
    () =>
      effectiveConfig(
        local,
        layer({
          devices: { 'pump-1': { quota: { msgsPerS: 0 } } },
          batch: { maxReadingz: 1 }
        })
      ),
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

test('layering: objects merge, arrays and scalars replace, null removes; origins and superseded fields', () => {
  const order = layerOrder('gw-1', ['site=plant-7', 'hw=pi4'])
  assert.deepEqual(order, ['*', 'group:site=plant-7', 'group:hw=pi4', 'gw-1'])
  const fleet = {
    key: '*',
    config: { batch: { lingerMs: 40, maxReadings: 500 }, kafka: { topic: 't1' }, devices: { a: { passwordHash: 'x' } } }
  }
  const site = { key: 'group:site=plant-7', config: { batch: { lingerMs: 30 }, kafka: { topic: null } } }
  const own = { key: 'gw-1', config: { devices: { b: { passwordHash: 'y' } }, apps: {} } }
  const { tree, origin } = mergeLayers([fleet, site, own])
  assert.deepEqual(tree, {
    batch: { lingerMs: 30, maxReadings: 500 },
    kafka: {},
    devices: { a: { passwordHash: 'x' }, b: { passwordHash: 'y' } },
    apps: {}
  })
  assert.equal(origin.get('batch.lingerMs'), 'group:site=plant-7')
  assert.equal(origin.get('batch.maxReadings'), '*')
  assert.equal(origin.has('kafka.topic'), false, 'null removed it')
  assert.equal(origin.get('devices.b.passwordHash'), 'gw-1')
  // The fleet's batch.lingerMs and kafka.topic are decided higher up; its other fields are not.
  assert.deepEqual([...supersededLeaves(fleet, [fleet, site, own], order)].sort(), [
    ['batch.lingerMs', 'group:site=plant-7'],
    ['kafka.topic', 'group:site=plant-7']
  ])
  assert.deepEqual([...supersededLeaves(own, [fleet, site, own], order)], [])
  // An own document over the fleet default through the loader: only devices set, the fleet's batch kept.
  const { config } = effectiveConfig(
    { flags: {}, env: {}, fileDoc: { kafka: { brokers: ['k:9092'] } } },
    [fleet, { key: 'gw-1', config: { devices: { b: { passwordHash: HASH } } } }].map(l =>
      l.key === '*' ? { key: '*', config: { batch: { lingerMs: 40 }, kafka: { topic: 'fleet-topic' } } } : l
    )
  )
  assert.equal(config.batch.lingerMs, 40)
  assert.equal(config.kafka.topic, 'fleet-topic')
  assert.deepEqual(Object.keys(config.devices), ['b'])
})

test('groups: documents for a group carry `group`, not `gatewayId`; keys say which layer', () => {
  const ok = checkDocument({ group: 'site=plant-7', version: 1, config: {} })
  assert.equal(ok.doc?.group, 'site=plant-7')
  assert.equal(layerKeyOf(ok.doc!), 'group:site=plant-7')
  assert.equal(layerKeyOf({ gatewayId: '*' }), '*')
  const both = checkDocument({ group: 'site=plant-7', gatewayId: 'gw-1', version: 1, config: {} })
  assert.deepEqual(
    both.errors.map(e => e.field),
    ['document.gatewayId']
  )
  assert.deepEqual(
    checkDocument({ group: 'Site=x y', version: 1, config: {} }).errors.map(e => e.field),
    ['document.group']
  )
})
