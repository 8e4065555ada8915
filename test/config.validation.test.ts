import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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
