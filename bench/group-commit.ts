/**
 * What the group commit costs the broker's thread: the buffer alone (no MQTT), fed at a paced rate
 * from this thread, with the transaction inline (as before #12) and on the commit worker, alternating
 * runs. The figure that matters is this thread's own CPU time per reading (from /proc, so other
 * processes on a shared machine barely move it) and its event-loop delay; the append-to-durable latency
 * is printed beside them. store.synchronous = full, commit window 2 ms, 100 devices, 90-byte payloads.
 *
 *   node dist/bench/group-commit.js [--rate 20000] [--seconds 5] [--repeat 3]
 *
 * stdout: one JSON line per run, then one `median` line per mode and a `ratio` line (worker / inline).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { ReadingBuffer } from '../src/store/buffer.js'
import { moveCommitsOffThread, moveSyncOffThread, openDatabase } from '../src/store/db.js'
import type { NewReading } from '../src/store/reading.js'

const { values: opt } = parseArgs({
  options: {
    rate: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '5' },
    repeat: { type: 'string', default: '3' }
  }
})
const RATE = Number(opt.rate)
const SECONDS = Number(opt.seconds)
const REPEAT = Number(opt.repeat)
const DEVICES = 100
const TICK_MS = 1

/** CPU ms of this process's threads since start: this (the main) thread, and all the others. */
function threadCpuMs(): { main: number; others: number } {
  const tick = 10 // USER_HZ = 100 on Linux
  let main = 0
  let others = 0
  for (const tid of readdirSync('/proc/self/task')) {
    let stat: string
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
    } catch {
      continue
    }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ms = (Number(f[11]) + Number(f[12])) * tick
    if (Number(tid) === process.pid) main += ms
    else others += ms
  }
  return { main, others }
}

const pct = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(q * s.length))]!
}
const median = (xs: number[]): number => pct(xs, 0.5)

function reading(d: number, n: number): NewReading {
  const device = `dev-${d}`
  const payload = Buffer.from(JSON.stringify({ ts: 1_700_000_000_000 + n, t: 21.5 + (n % 10), h: 40 + (n % 7) }))
  return { device, topic: `devices/${device}/telemetry`, payload, eventMs: 1_700_000_000_000 + n, qos: 1 }
}

async function run(mode: 'inline' | 'worker'): Promise<Record<string, number | string>> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-group-commit-'))
  const db = openDatabase({ dataDir: dir, synchronous: 'full' })
  // inline: every group commits on this thread; the commit worker only syncs the WAL.
  const worker = moveCommitsOffThread(db, true, m => process.stderr.write(`commit: ${m}\n`))
  const walSync = moveSyncOffThread(db, worker, m => process.stderr.write(`wal sync: ${m}\n`))
  await worker.ready
  const buffer = new ReadingBuffer(db, 2, walSync, mode === 'worker' ? worker : null)
  // Every device known first (a device's first reading commits on this thread either way).
  await Promise.all(
    Array.from({ length: DEVICES }, (_, d) => new Promise(r => buffer.writer.append(reading(d, 0), () => r(null))))
  )
  const latencies: number[] = []
  let sent = 0
  let acked = 0
  let failed = 0
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  const cpu0 = threadCpuMs()
  const t0 = performance.now()
  const perTick = (RATE * TICK_MS) / 1000
  await new Promise<void>(resolve => {
    const timer = setInterval(() => {
      const now = performance.now()
      const due = Math.min(RATE * SECONDS, Math.floor(((now - t0) / 1000) * RATE + perTick))
      for (; sent < due; sent++) {
        const at = performance.now()
        buffer.writer.append(reading(sent % DEVICES, sent + 1), err => {
          if (err !== null) failed++
          else latencies.push(performance.now() - at)
          if (++acked === RATE * SECONDS) resolve()
        })
      }
      if (sent >= RATE * SECONDS) clearInterval(timer)
    }, TICK_MS)
  })
  const wallS = (performance.now() - t0) / 1000
  const cpu1 = threadCpuMs()
  loop.disable()
  const commits = buffer.writer.totals
  buffer.close()
  if (mode === 'inline') worker.close()
  rmSync(dir, { recursive: true, force: true })
  const n = RATE * SECONDS
  return {
    bench: 'group-commit',
    mode,
    rate: RATE,
    readings: n,
    failed,
    achievedPerS: Math.round(n / wallS),
    mainThreadCpuUsPerReading: Math.round(((cpu1.main - cpu0.main) * 1000 * 100) / n) / 100,
    otherThreadsCpuUsPerReading: Math.round(((cpu1.others - cpu0.others) * 1000 * 100) / n) / 100,
    durableP50Ms: Math.round(median(latencies) * 100) / 100,
    durableP99Ms: Math.round(pct(latencies, 0.99) * 100) / 100,
    loopDelayP50Ms: Math.round(loop.percentile(50) / 1e4) / 100,
    loopDelayP99Ms: Math.round(loop.percentile(99) / 1e4) / 100,
    loopDelayMaxMs: Math.round(loop.max / 1e4) / 100,
    commits: commits.commits,
    commitsOffThread: commits.offThread
  }
}

const rows: Array<Record<string, number | string>> = []
for (let i = 0; i < REPEAT; i++) {
  for (const mode of ['inline', 'worker'] as const) {
    const r = await run(mode)
    rows.push(r)
    process.stdout.write(`${JSON.stringify(r)}\n`)
  }
}
const keys = [
  'mainThreadCpuUsPerReading',
  'otherThreadsCpuUsPerReading',
  'durableP50Ms',
  'durableP99Ms',
  'loopDelayP99Ms',
  'loopDelayMaxMs'
] as const
const med: Record<string, Record<string, number>> = {}
for (const mode of ['inline', 'worker']) {
  const mine = rows.filter(r => r.mode === mode)
  med[mode] = Object.fromEntries(keys.map(k => [k, median(mine.map(r => r[k] as number))]))
  process.stdout.write(`${JSON.stringify({ bench: 'group-commit', median: mode, runs: mine.length, ...med[mode] })}\n`)
}
const ratio = Object.fromEntries(
  keys.map(k => [k, med.inline![k]! > 0 ? Math.round((med.worker![k]! / med.inline![k]!) * 100) / 100 : null])
)
process.stdout.write(`${JSON.stringify({ bench: 'group-commit', ratio: 'worker/inline', ...ratio })}\n`)
