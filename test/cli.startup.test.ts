import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewayProcess, runArgs, runCli } from './harness/gateway.js'
import { rawLogin } from './harness/mqtt-raw.js'

const NOT_AUTHORIZED = 5

const tmp = (): string => mkdtempSync(join(tmpdir(), 'hf-startup-'))

test('`--allow-anonymous false` and `--status-public false` (value after a space) leave both switches off', async () => {
  const gw = await GatewayProcess.start({
    anonymous: false,
    statusPublic: false,
    args: ['--allow-anonymous', 'false', '--status-public', 'false']
  })
  try {
    const { raw, code } = await rawLogin(gw.mqttPort, 'nobody')
    raw.socket.destroy()
    assert.equal(code, NOT_AUTHORIZED, 'an anonymous client is still refused')
    const r = await fetch(`${gw.http}/api/status`)
    assert.equal(r.status, 401, 'the status API still needs a login')
    assert.equal(((await r.json()) as { code: string }).code, 'HF_ERR_LOGIN_REQUIRED')
    assert.doesNotMatch(gw.log(), /HF_WARN_ANONYMOUS/, 'no anonymous-mode warning was logged')
  } finally {
    await gw.stop()
  }
})

test('`--allow-anonymous true` with a space turns the switch on, as `--allow-anonymous` does', async () => {
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--allow-anonymous', 'true'] })
  try {
    const { raw, code } = await rawLogin(gw.mqttPort, 'nobody')
    raw.socket.destroy()
    assert.equal(code, 0)
  } finally {
    await gw.stop()
  }
})

test('a stray word after `holdfast run` stops the start: exit 2, HF_ERR_USAGE, one line', async () => {
  const dir = tmp()
  for (const stray of [['allow-anonymous'], ['--log-level', 'info', 'extra'], ['--', 'x']]) {
    const r = await runCli([...(await runArgs(join(dir, 'data'))), ...stray], { timeoutMs: 10_000 })
    assert.equal(r.code, 2, `${stray.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /^holdfast: HF_ERR_USAGE: /)
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  }
})

test('a configuration error on a secret names the field and the rule, never the value', async () => {
  const dir = tmp()
  const token = 'tok-短-7x' // too short for a metrics token
  const plaintext = 'correct-horse-battery-staple' // a password where its hash belongs
  const cases: Array<{ args: string[]; env?: Record<string, string>; field: string; value: string }> = [
    { args: [], env: { HOLDFAST_STATUS_METRICS_TOKEN: token }, field: 'status.metricsToken', value: token },
    { args: ['--status-password-hash', plaintext], field: 'status.passwordHash', value: plaintext },
    {
      args: ['--devices', JSON.stringify({ 'pump-1': { passwordHash: plaintext } })],
      field: 'devices.pump-1.passwordHash',
      value: plaintext
    },
    {
      args: ['--apps', JSON.stringify({ dash: { passwordHash: plaintext, read: ['#'] } })],
      field: 'apps.dash.passwordHash',
      value: plaintext
    }
  ]
  const file = join(dir, 'holdfast.json')
  writeFileSync(file, JSON.stringify({ kafka: { saslPassword: 918273645 } }))
  cases.push({ args: ['--config', file], field: 'kafka.saslPassword', value: '918273645' })
  for (const c of cases) {
    const r = await runCli([...(await runArgs(join(dir, 'data'))), ...c.args], { env: c.env, timeoutMs: 10_000 })
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /HF_ERR_CONFIG_INVALID/)
    assert.ok(r.stderr.includes(`${c.field}: must be`), `names the field and the rule: ${r.stderr}`)
    assert.ok(!r.stderr.includes(c.value) && !r.stdout.includes(c.value), `${c.field}'s value echoed: ${r.stderr}`)
  }
})

test('--data-dir on a file, under a file or in an unwritable place: exit 2 with one line, no stack trace', async () => {
  const dir = tmp()
  const file = join(dir, 'not-a-dir')
  writeFileSync(file, 'x')
  const readOnly = join(dir, 'ro')
  mkdirSync(readOnly)
  chmodSync(readOnly, 0o500)
  const places = [file, join(file, 'data'), '/proc/holdfast-data']
  // Root may write anywhere: a read-only directory proves something only for other users.
  if (process.getuid?.() !== 0) places.push(join(readOnly, 'data'))
  for (const dataDir of places) {
    const r = await runCli(await runArgs(dataDir), { timeoutMs: 10_000 })
    assert.equal(r.code, 2, `${dataDir}: ${r.stderr}`)
    assert.match(r.stderr, /^holdfast: HF_ERR_DATA_DIR: cannot use data directory /)
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`)
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
  }
})

test("`holdfast CMD --help` prints that command's usage and exits 0 for every command, `run` included (nothing starts)", async () => {
  const cases: Array<[string[], RegExp]> = [
    [['run', '--help'], /holdfast run \[--config FILE\]/],
    [['run', '--mqtt-port', '1', '-h'], /holdfast run \[--config FILE\]/],
    [['devices', '--help'], /holdfast devices add ID/],
    [['fleet', 'sign', '--help'], /holdfast fleet keygen/],
    [['hash-password', '--help'], /holdfast hash-password/],
    [['decode', '--help'], /holdfast decode --brokers/],
    [['expand', '--help'], /holdfast expand/],
    [['reconcile', '--help'], /holdfast reconcile/]
  ]
  for (const [args, usage] of cases) {
    const r = await runCli(args, { timeoutMs: 10_000 })
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stdout, usage, args.join(' '))
    assert.equal(r.stderr, '', args.join(' '))
  }
})
