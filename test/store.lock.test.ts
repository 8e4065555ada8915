import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { GatewayProcess, ROOT, runArgs, runCli } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import { connectAs } from './harness/devices.js'

/** Publish `n` QoS 1 readings as an anonymous client; resolves once every PUBACK is in. */
async function publish(gw: GatewayProcess, device: string, from: number, n: number): Promise<void> {
  const c = await connectAs(gw.url, `${device}-client`, { username: undefined, password: undefined })
  for (let i = from; i < from + n; i++)
    await c.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ ts: 1_700_000_000_000 + i, n: i }), { qos: 1 })
  await c.endAsync()
}

/** Another process holding an exclusive lock on the buffer file, as a stray `sqlite3` shell would. */
async function holdLock(file: string): Promise<ChildProcess> {
  const script = `const D = require('better-sqlite3'); const db = new D(process.argv[1]);
    db.pragma('locking_mode = EXCLUSIVE'); db.exec('BEGIN EXCLUSIVE'); process.stdout.write('locked\\n');
    setInterval(() => {}, 1000)`
  const child = spawn(process.execPath, ['-e', script, file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve())
    child.once('exit', code => reject(new Error(`lock holder exited ${code}`)))
  })
  return child
}

async function runOn(dataDir: string): Promise<{ code: number | null; stderr: string; ms: number }> {
  const t0 = Date.now()
  const r = await runCli(await runArgs(dataDir), { timeoutMs: 30_000 })
  return { code: r.code, stderr: r.stderr, ms: Date.now() - t0 }
}

test('a buffer locked by another process at start is waited for, then refused with HF_ERR_STORE_BUSY — never quarantined', async () => {
  const gw = await GatewayProcess.start()
  await publish(gw, 'meter-1', 0, 20)
  await gw.stop()
  const before = readBuffer(gw.dataDir)
  assert.equal(before.length, 20)

  const holder = await holdLock(join(gw.dataDir, 'buffer.db'))
  let r: Awaited<ReturnType<typeof runOn>>
  try {
    r = await runOn(gw.dataDir)
  } finally {
    holder.kill('SIGKILL')
    await new Promise(resolve => holder.once('exit', resolve))
  }
  assert.equal(r.code, 75, r.stderr)
  assert.match(r.stderr, /^holdfast: HF_ERR_STORE_BUSY: /)
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  assert.ok(r.ms >= 4000, `it waited for the lock first (${r.ms} ms)`)
  assert.equal(existsSync(join(gw.dataDir, 'quarantine')), false, 'nothing was quarantined')
  assert.deepEqual(readBuffer(gw.dataDir), before, 'the buffer and its acknowledged readings are untouched')

  // Once the lock is gone the gateway starts on the same buffer, with every reading still there.
  await gw.launch()
  try {
    const st = await gw.status()
    assert.equal(st.backlog.readings, 20)
    assert.doesNotMatch(gw.log(), /HF_ERR_STORE_CORRUPT/)
  } finally {
    await gw.stop()
  }
})

test('a second gateway on the same data directory is refused (HF_ERR_DATA_DIR_IN_USE); the first keeps its buffer', async () => {
  const first = await GatewayProcess.start()
  try {
    await publish(first, 'meter-2', 0, 10)
    const r = await runOn(first.dataDir)
    assert.equal(r.code, 75, r.stderr)
    assert.match(r.stderr, /^holdfast: HF_ERR_DATA_DIR_IN_USE: /)
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    assert.equal(existsSync(join(first.dataDir, 'quarantine')), false, 'nothing was quarantined')
    // The first one is unharmed and still storing.
    await publish(first, 'meter-2', 10, 10)
    assert.equal((await first.status()).backlog.readings, 20)
    // A killed gateway leaves no stale lock: the next start on its directory succeeds at once.
    await first.kill()
    await first.launch()
    assert.equal((await first.status()).backlog.readings, 20)
    assert.deepEqual(
      readBuffer(first.dataDir).map(row => JSON.parse(row.payload.toString()).n),
      Array.from({ length: 20 }, (_, i) => i)
    )
  } finally {
    await first.stop()
  }
})
