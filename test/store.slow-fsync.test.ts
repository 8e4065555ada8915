/**
 * A slow fsync (an SD card) holds up no transaction: while the WAL sync of one group runs, the commit
 * worker commits the next groups, and each sync then covers all of them. Every fdatasync of a real
 * gateway is delayed 200 ms by strace; the groups committed on the worker outnumber the syncs, and
 * every acknowledged reading is in the file.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import { startSim } from './harness/sim.js'

const metric = (text: string, name: string): number => {
  const m = new RegExp(`^${name} (\\d+)`, 'm').exec(text)
  assert.ok(m !== null, `${name} is on /metrics`)
  return Number(m[1])
}

test('with every fdatasync taking 200 ms, the next groups commit while a sync runs, and no acknowledged reading is lost', async () => {
  const trace = join(mkdtempSync(join(tmpdir(), 'hf-slow-fsync-')), 'strace.log')
  const gw = await GatewayProcess.start({
    wrap: [
      'strace',
      '-f',
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
  try {
    const before = await (await fetch(`${gw.http}/metrics`)).text()
    const syncsBefore = (readFileSync(trace, 'utf8').match(/fdatasync\(/g) ?? []).length
    const sim = startSim([
      '--url',
      gw.url,
      '--devices',
      '20',
      '--prefix',
      'slow-',
      '--rate',
      '20',
      '--inflight',
      '1000',
      '--duration',
      '4'
    ])
    const r = await sim.result
    assert.equal(r.failed, 0)
    assert.ok(r.acked > 100, `readings were acknowledged (${r.acked})`)
    const after = await (await fetch(`${gw.http}/metrics`)).text()
    const offThread =
      metric(after, 'holdfast_buffer_commits_off_thread_total') -
      metric(before, 'holdfast_buffer_commits_off_thread_total')
    const syncs = (readFileSync(trace, 'utf8').match(/fdatasync\(/g) ?? []).length - syncsBefore
    // One sync per group would make these equal (each 200 ms: at most ~20 in the run).
    assert.ok(syncs > 0, 'the WAL was synced')
    assert.ok(offThread >= 3 * syncs, `groups committed on the worker (${offThread}) outnumber the syncs (${syncs})`)
    const stored = readBuffer(gw.dataDir).filter(x => x.device.startsWith('slow-')).length
    assert.ok(stored >= r.acked, `every acknowledged reading is stored (${stored} of ${r.acked})`)
  } finally {
    // SIGTERM to strace would only detach it: stop the gateway itself, then strace ends with it.
    if (main !== undefined) process.kill(Number(main), 'SIGTERM')
    await gw.stop()
  }
})
