import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { loadConfig, redact } from '../../src/config/load.js'
import { isHoldfastError } from '../../src/errors.js'

const tmp = mkdtempSync(join(tmpdir(), 'hf-config-'))
after(() => rmSync(tmp, { recursive: true, force: true }))
const file = (doc: unknown): string => {
  const p = join(tmp, `c${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(p, JSON.stringify(doc))
  return p
}
/** The field errors a load fails with, as `field: message`. */
function fieldErrors(input: Parameters<typeof loadConfig>[0]): string[] {
  try {
    loadConfig(input)
  } catch (err) {
    assert.ok(isHoldfastError(err, 'HF_ERR_CONFIG_INVALID'), String(err))
    return (err.details.errors as Array<{ field: string; message: string }>).map(e => `${e.field}: ${e.message}`).sort()
  }
  assert.fail('the configuration was accepted')
}

test('flags beat environment beats file beats defaults', () => {
  const cfgFile = file({ mqtt: { port: 1001 }, http: { port: 2001 }, dataDir: '/from/file', gatewayId: 'from-file' })
  const { config, sources } = loadConfig({
    flags: { config: cfgFile, 'mqtt-port': '1003' },
    env: { HOLDFAST_MQTT_PORT: '1002', HOLDFAST_HTTP_PORT: '2002' }
  })
  assert.equal(config.mqtt.port, 1003)
  assert.equal(sources['mqtt.port'], 'flag --mqtt-port')
  assert.equal(config.http.port, 2002)
  assert.equal(config.dataDir, '/from/file')
  assert.equal(config.gatewayId, 'from-file')
  assert.equal(config.kafka.topic, 'holdfast.telemetry')
  assert.equal(config.mqtt.allowAnonymous, false, 'secure by default')
  assert.ok(Object.isFrozen(config.mqtt), 'validated config is frozen')
})

test('with nothing configured the defaults hold: 1883, 8080, ./data, host name as gateway id, no uplink', () => {
  const { config } = loadConfig({ env: {} })
  assert.equal(config.mqtt.port, 1883)
  assert.equal(config.http.port, 8080)
  assert.equal(config.dataDir, './data')
  assert.ok(config.gatewayId.length > 0)
  assert.deepEqual(config.kafka.brokers, [])
})

test('every validation error is collected, not only the first', () => {
  try {
    loadConfig({ env: { HOLDFAST_ALLOW_ANONYMOUS: 'maybe', HOLDFAST_KAFKA_BROKERS: 'no-port', HOLDFAST_NOPE: '1' } })
    assert.fail('should throw')
  } catch (err) {
    assert.ok(isHoldfastError(err, 'HF_ERR_CONFIG_INVALID'))
    const fields = (err.details.errors as Array<{ field: string }>).map(e => e.field).sort()
    assert.deepEqual(fields, ['HOLDFAST_NOPE', 'kafka.brokers', 'mqtt.allowAnonymous'])
  }
})

test('map settings: entries are checked field by field, names against their pattern, required fields present', () => {
  const errors = fieldErrors({
    env: {},
    document: {
      devices: { 'pump 1': {}, 'pump-2': { quota: { msgsPerS: 0 }, storagePolicy: 'keep-all' } },
      apps: { dash: { read: ['plant/#'] } },
      aggregate: { rules: { temps: { topics: ['a/#/b'] } } }
    }
  })
  assert.equal(errors.length, 5, errors.join('\n'))
  assert.match(errors.join('\n'), /devices\.pump 1: the name must be a device id/)
  assert.match(errors.join('\n'), /devices\.pump-2\.quota\.msgsPerS: must be/)
  assert.match(errors.join('\n'), /devices\.pump-2\.storagePolicy: must be one of drop-oldest, reject-new/)
  assert.match(errors.join('\n'), /apps\.dash\.passwordHash: is required/)
  assert.match(errors.join('\n'), /aggregate\.rules\.temps\.topics: /)
})

test('priority classes may not share a priority', () => {
  const errors = fieldErrors({
    env: {},
    document: {
      priority: { classes: { alarm: { topics: ['a/#'], priority: 5 }, event: { topics: ['e/#'], priority: 5 } } }
    }
  })
  assert.deepEqual(errors, ['priority.classes.event.priority: 5 is already the priority of class alarm'])
})

test("a map setting from the environment replaces the file's, as a whole JSON object", () => {
  const cfgFile = file({ devices: { a: {}, b: {} } })
  const { config, sources } = loadConfig({
    file: cfgFile,
    env: { HOLDFAST_DEVICES: JSON.stringify({ c: { quota: { msgsPerS: 5 } } }) }
  })
  assert.deepEqual(Object.keys(config.devices), ['c'])
  assert.equal(config.devices.c!.quota!.msgsPerS, 5)
  assert.equal(sources.devices, 'env HOLDFAST_DEVICES')
})

test('the validated config is frozen throughout and the host defaults are filled in', () => {
  const { config } = loadConfig({ env: { HOLDFAST_GATEWAY_ID: 'gw-9' } })
  assert.equal(config.kafka.clientId, 'holdfast-gw-9')
  assert.ok(Object.isFrozen(config.mqtt.tls))
  assert.ok(Object.isFrozen(config.kafka.brokers))
  assert.throws(() => {
    ;(config.mqtt as { port: number }).port = 1
  }, TypeError)
})

test('redact hides every secret, inside map entries too, and nothing else', () => {
  const hash = 'scrypt$16384$8$1$c2FsdA==$aGFzaA=='
  const { config } = loadConfig({
    env: { HOLDFAST_KAFKA_SASL_PASSWORD: 'pw', HOLDFAST_STATUS_METRICS_TOKEN: 'a-token-of-16-chars' },
    document: { devices: { a: { passwordHash: hash } }, status: { passwordHash: hash } }
  })
  const r = redact(config) as any
  assert.equal(r.kafka.saslPassword, '[redacted]')
  assert.equal(r.status.metricsToken, '[redacted]')
  assert.equal(r.status.passwordHash, '[redacted]')
  assert.equal(r.devices.a.passwordHash, '[redacted]')
  assert.equal(r.kafka.saslUsername, '', 'empty secrets stay empty (nothing to hide)')
  assert.equal(r.mqtt.port, 1883)
  assert.doesNotMatch(JSON.stringify(r), /scrypt|a-token-of|"pw"/)
})
