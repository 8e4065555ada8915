import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import { startSim } from './harness/sim.js'

/** strace -f lines: `<tid> <syscall>(<args>) = <result>` (or `<unfinished ...>`). */
interface Call {
  tid: number
  name: string
  line: string
}

function calls(file: string, from = 0): Call[] {
  const text = readFileSync(file).subarray(from).toString()
  const out: Call[] = []
  for (const line of text.split('\n')) {
    const m = /^(\d+)\s+(\w+)\(/.exec(line)
    if (m !== null) out.push({ tid: Number(m[1]), name: m[2]!, line })
  }
  return out
}

const SYNCS = new Set(['fsync', 'fdatasync'])
const SPAWNS = new Set(['clone', 'clone3', 'fork', 'vfork'])

test("while devices publish, the broker's thread neither fsyncs nor starts a process; worker threads do both", async () => {
  const trace = join(mkdtempSync(join(tmpdir(), 'hf-threads-')), 'strace.log')
  const gw = await GatewayProcess.start({
    wrap: [
      'strace',
      '-f',
      '--seccomp-bpf',
      '-e',
      'trace=fsync,fdatasync,clone,clone3,fork,vfork,execve',
      '-o',
      trace,
      '--'
    ],
    // Host facts often, so that systeminformation runs during the load.
    args: ['--status-host-interval-ms', '500']
  })
  // The gateway's main thread: the pid that execs node (strace forks it first).
  const main = calls(trace).find(c => c.name === 'execve' && c.line.includes(process.execPath))?.tid
  try {
    assert.ok(main !== undefined, 'strace saw the gateway start')
    const serving = statSync(trace).size
    const sim = startSim(['--url', gw.url, '--devices', '20', '--prefix', 'thr-', '--rate', '400', '--duration', '4'])
    for (let i = 0; i < 8; i++) {
      await gw.status()
      await (await fetch(`${gw.http}/metrics`)).text()
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    const r = await sim.result
    assert.ok(r.acked > 100, `readings were acknowledged (${r.acked})`)
    assert.equal(r.failed, 0)
    const during = calls(trace, serving)
    const onMain = during.filter(c => c.tid === main)
    assert.deepEqual(
      onMain.filter(c => SYNCS.has(c.name)).map(c => c.line),
      [],
      "no fsync on the broker's thread"
    )
    assert.deepEqual(
      onMain.filter(c => SPAWNS.has(c.name) && !c.line.includes('CLONE_THREAD')).map(c => c.line),
      [],
      "no child process started from the broker's thread"
    )
    const syncs = during.filter(c => SYNCS.has(c.name) && c.tid !== main)
    assert.ok(syncs.length > 0, 'the group commits were synced, on other threads')
    // systeminformation runs commands at its first sample (and every 30 s): from a worker thread.
    const spawned = calls(trace).filter(c => SPAWNS.has(c.name) && !c.line.includes('CLONE_THREAD') && c.tid !== main)
    assert.ok(spawned.length > 0, 'host facts started their commands, on another thread')
    const stored = readBuffer(gw.dataDir).filter(x => x.device.startsWith('thr-')).length
    assert.ok(stored >= r.acked, `every acknowledged reading is stored (${stored} of ${r.acked})`)
  } finally {
    // SIGTERM to strace would only detach it: stop the gateway itself, then strace ends with it.
    if (main !== undefined) process.kill(main, 'SIGTERM')
    await gw.stop()
  }
})
