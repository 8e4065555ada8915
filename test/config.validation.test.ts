import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../src/config/load.js'
import { isHoldfastError } from '../src/errors.js'
import { runCli } from './harness/gateway.js'

const tmp = mkdtempSync(join(tmpdir(), 'hf-config-'))
const file = (doc: unknown): string => {
  const p = join(tmp, `c${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(p, JSON.stringify(doc))
  return p
}

test('a bad flag value stops the start with the field, its source and what is allowed', async () => {
  const r = await runCli(['run', '--mqtt-port', 'abc', '--data-dir', join(tmp, 'never')])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /HF_ERR_CONFIG_INVALID/)
  assert.match(r.stderr, /mqtt\.port: must be an integer from 1 to 65535 \(got "abc"\) \(flag --mqtt-port\)/)
})

test('a bad environment value and an unknown file key are each named', async () => {
  const r = await runCli(['run', '--config', file({ mqtt: { prot: 1 }, store: { synchronous: 'sometimes' } })], {
    env: { HOLDFAST_HTTP_PORT: '70000' }
  })
  assert.equal(r.code, 2)
  assert.match(r.stderr, /http\.port: must be an integer from 1 to 65535 \(got "70000"\) \(env HOLDFAST_HTTP_PORT\)/)
  assert.match(r.stderr, /mqtt\.prot: unknown key/)
  assert.match(r.stderr, /store\.synchronous: must be one of full, normal/)
})

test('an unreadable config file is a clear error', async () => {
  const r = await runCli(['run', '--config', join(tmp, 'missing.json')])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /HF_ERR_CONFIG_FILE: cannot read config file .*missing\.json/)
})

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
