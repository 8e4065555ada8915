import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import { startSim } from './harness/sim.js'
import { sleep } from './harness/wait.js'

test('20 SIGKILL cycles under load: every acknowledged reading survives, none stored twice', async () => {
  const gw = await GatewayProcess.start()
  const ackedLog = join(mkdtempSync(join(tmpdir(), 'hf-chaos-')), 'acked.log')
  const sim = startSim([
    '--url',
    gw.url,
    '--devices',
    '10',
    '--prefix',
    'c20-',
    '--rate',
    '200',
    // Long enough that a slow machine still completes 20 cycles; the fleet is stopped right after them.
    '--duration',
    '600',
    '--acked-log',
    ackedLog
  ])
  let cycles = 0
  try {
    for (; cycles < 20 && sim.child.exitCode === null; cycles++) {
      await sleep(400 + Math.floor(Math.random() * 600))
      await gw.kill()
      await gw.launch()
    }
    sim.child.kill('SIGTERM') // the fleet stops publishing and reports what was acknowledged
    const r = await sim.result
    assert.ok(r.acked > 1000, `the fleet got readings acknowledged (${r.acked})`)
  } finally {
    await gw.stop()
  }
  assert.equal(cycles, 20)
  const acked = readFileSync(ackedLog, 'utf8').trim().split('\n')
  const stored = new Map<string, number>()
  for (const row of readBuffer(gw.dataDir)) {
    const key = `${row.device} ${JSON.parse(row.payload.toString()).n as number}`
    stored.set(key, (stored.get(key) ?? 0) + 1)
  }
  const missing = acked.filter(k => !stored.has(k))
  assert.deepEqual(
    missing.slice(0, 10),
    [],
    `${missing.length} of ${acked.length} acknowledged readings lost over 20 kills`
  )
  const twice = [...stored].filter(([, n]) => n > 1)
  assert.deepEqual(twice.slice(0, 10), [], `${twice.length} readings stored twice`)
})
