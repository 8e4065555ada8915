/**
 * A slow fsync (an SD card): every fdatasync of a real gateway is delayed 200 ms by strace. Under a
 * modest load the next group gathers while a sync runs (one transaction per sync: no more page writes
 * than needed); once a large group waits, the commit worker commits it during the sync, which the next
 * sync then covers, so there are more groups than syncs. Every acknowledged reading is in the file.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import { startSim } from './harness/sim.js'

/**
 * The group commits' WAL syncs so far. A checkpoint (the background thread's) also syncs the WAL, then
 * the database file: one WAL sync per database sync is the checkpoints'.
 */
function commitSyncs(trace: string): number {
  const text = readFileSync(trace, 'utf8')
  const wal = (text.match(/f(?:data)?sync\(\d+<[^>]*-wal>/g) ?? []).length
  const db = (text.match(/f(?:data)?sync\(\d+<[^>]*\.db>/g) ?? []).length
  return wal - db
}

const offThread = async (http: string): Promise<number> => {
  const m = /^holdfast_buffer_commits_off_thread_total (\d+)/m.exec(await (await fetch(`${http}/metrics`)).text())
  assert.ok(m !== null, 'holdfast_buffer_commits_off_thread_total is on /metrics')
  return Number(m[1])
}

test('with every fdatasync taking 200 ms: one group per sync under a modest load, more groups than syncs under a heavy one, and no acknowledged reading is lost', async () => {
  const trace = join(mkdtempSync(join(tmpdir(), 'hf-slow-fsync-')), 'strace.log')
  const gw = await GatewayProcess.start({
    wrap: [
      'strace',
      '-f',
      '-y',
      '--seccomp-bpf',
      '-e',
      'trace=fdatasync,execve',
      '-e',
      'inject=fdatasync:delay_exit=200000',
      '-o',
      trace,
      '--'
    ]
  })
  const main = /^(\d+)\s+execve\(/m.exec(readFileSync(trace, 'utf8'))?.[1]
  /** Groups committed on the worker, and WAL syncs, while `devices` devices publish `rate` readings/s each. */
  const run = async (prefix: string, devices: number, rate: number) => {
    const groups = await offThread(gw.http)
    const syncs = commitSyncs(trace)
    const sim = startSim([
      ...['--url', gw.url, '--devices', String(devices), '--prefix', prefix],
      ...['--rate', String(rate), '--inflight', '1000', '--duration', '4']
    ])
    const r = await sim.result
    assert.equal(r.failed, 0)
    assert.ok(r.acked > 100, `readings were acknowledged (${r.acked})`)
    const stored = readBuffer(gw.dataDir).filter(x => x.device.startsWith(prefix)).length
    assert.ok(stored >= r.acked, `every acknowledged reading is stored (${stored} of ${r.acked})`)
    return { groups: (await offThread(gw.http)) - groups, syncs: commitSyncs(trace) - syncs }
  }
  try {
    assert.ok(main !== undefined, 'strace saw the gateway start')
    // 100 readings/s: about 20 arrive during a sync, far from a large group.
    const modest = await run('modest-', 20, 5)
    assert.ok(modest.syncs > 0, 'the WAL was synced')
    assert.ok(modest.groups <= modest.syncs, `a group gathers while a sync runs (${JSON.stringify(modest)})`)
    // 10,000 readings/s asked: several large groups arrive during a sync.
    const heavy = await run('heavy-', 50, 200)
    assert.ok(heavy.groups > heavy.syncs, `large groups commit while a sync runs (${JSON.stringify(heavy)})`)
  } finally {
    // SIGTERM to strace would only detach it: stop the gateway itself, then strace ends with it.
    if (main !== undefined) process.kill(Number(main), 'SIGTERM')
    await gw.stop()
  }
})
