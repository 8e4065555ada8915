/**
 * A WAL fsync that fails (an SD card's I/O error) while devices publish: the gateway acknowledges
 * nothing from then on, exits 75 for its supervisor, and the restart recovers the buffer from disk:
 * every reading acknowledged before or after is there, once. The error comes from the kernel's side
 * of the real syscall: strace makes one fdatasync of the running gateway return EIO.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import { startSim } from './harness/sim.js'
import { sleep } from './harness/wait.js'

const DEVICES = 20
const PER_DEVICE = 1500

test('a failed WAL fsync: nothing more is acknowledged, the gateway exits 75, and its restart keeps every acknowledged reading once', async () => {
  const gw = await GatewayProcess.start({
    // Only the fdatasyncs of the WAL are traced; the 60th fails once, as a flaky card's write-back does.
    wrap: [
      'strace',
      '-f',
      '--seccomp-bpf',
      '-e',
      'trace=fdatasync',
      '-e',
      'inject=fdatasync:error=EIO:when=60',
      '-o',
      '/dev/null',
      '--'
    ]
  })
  const ackedLog = join(mkdtempSync(join(tmpdir(), 'hf-fsync-')), 'acked.log')
  const sim = startSim([
    '--url',
    gw.url,
    '--devices',
    String(DEVICES),
    '--prefix',
    'fs-',
    '--rate',
    '0',
    '--inflight',
    '5',
    '--count',
    String(PER_DEVICE),
    '--acked-log',
    ackedLog
  ])
  let ackedAtExit = -1
  try {
    const code = await gw.exitCode(60_000)
    ackedAtExit = readFileSync(ackedLog, 'utf8').trim().split('\n').filter(Boolean).length
    assert.equal(code, 75, 'exit 75 (EX_TEMPFAIL): the supervisor starts it again')
    assert.match(gw.log(), /"level":"fatal".*"code":"HF_ERR_STORE_SYNC"/, 'the fatal line names the code')
    assert.ok(
      ackedAtExit > 0 && ackedAtExit < DEVICES * PER_DEVICE,
      `the sync failed mid-stream (${ackedAtExit} acknowledged before it)`
    )
    await sleep(200)
    await gw.launch([])
    const r = await sim.result
    assert.equal(r.failed, 0, r.stderr)
    assert.equal(r.acked, DEVICES * PER_DEVICE, 'every reading was acknowledged in the end')
  } finally {
    sim.child.kill()
    await gw.stop()
  }

  const acked = new Set(readFileSync(ackedLog, 'utf8').trim().split('\n'))
  assert.equal(acked.size, DEVICES * PER_DEVICE)
  const stored = new Map<string, number>()
  for (const row of readBuffer(gw.dataDir)) {
    const key = `${row.device} ${JSON.parse(row.payload.toString()).n as number}`
    stored.set(key, (stored.get(key) ?? 0) + 1)
  }
  const missing = [...acked].filter(k => !stored.has(k))
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged readings missing after the restart`)
  const twice = [...stored].filter(([, n]) => n > 1)
  assert.deepEqual(twice.slice(0, 10), [], `${twice.length} readings stored more than once`)
})
