/**
 * The disk budget's admission cost per reading once the budget is full: every reading then asks which
 * drop-oldest devices give way (src/quota/storage.ts). In process, on a real SQLite buffer: N devices
 * fill a budget of ~40 readings each, then 20,000 more readings arrive round-robin (a third of them in a
 * higher priority class). JSON line per device count: microseconds per admit() (the decision and the
 * evictions it queues), median of 3 runs; and everything per reading, the commits with their evictions included.
 *
 *   node dist/bench/admit.js [--devices 100,1000,5000]
 */
import { parseArgs } from 'node:util'
import { loadConfig } from '../src/config/load.js'
import { Counters } from '../src/metrics/counters.js'
import { QuotaBook } from '../src/quota/limits.js'
import { StorageGuard } from '../src/quota/storage.js'
import { rowBytes } from '../src/store/reading.js'
import { append, memoryLogger, reading, tempBuffer } from '../test/unit/setup.js'
import { emit } from './procs.js'

const { values: o } = parseArgs({ options: { devices: { type: 'string', default: '100,1000,5000' } } })

async function measure(devices: number): Promise<void> {
  const tb = tempBuffer()
  // About 40 readings of ~90 bytes per device (1 MiB at least: the smallest budget the schema takes).
  const maxBytes = Math.max(1 << 20, devices * 40 * 90)
  const { config } = loadConfig({ env: {}, document: { store: { maxBytes } } })
  const guard = new StorageGuard({
    buffer: tb.buffer,
    book: new QuotaBook(config),
    maxBytes: config.store.maxBytes,
    minFreeBytes: 0,
    dataDir: tb.dir,
    counters: new Counters(),
    log: memoryLogger().log
  })
  let n = 0
  const run = async (count: number): Promise<[number, number]> => {
    const started = performance.now()
    let spent = 0
    const waiting: Array<Promise<number>> = []
    for (let i = 0; i < count; i++) {
      const device = `dev-${(n * 7919) % devices}`
      const r = reading(device, n++, { payload: Buffer.alloc(20 + (n % 7), 0x61), cls: n % 3 === 0 ? 1 : 0 })
      const t0 = performance.now()
      const verdict = guard.admit(device, rowBytes(r.topic, r.payload))
      spent += performance.now() - t0
      if (verdict === null) waiting.push(append(tb.buffer, r))
      // Commit in groups, as the broker does under load.
      if (waiting.length >= 200) await Promise.all(waiting.splice(0))
    }
    await Promise.all(waiting)
    return [(spent / count) * 1000, ((performance.now() - started) / count) * 1000]
  }
  try {
    await run(Math.ceil((maxBytes / 80) * 1.2))
    const runs = [await run(20_000), await run(20_000), await run(20_000)].sort((a, b) => a[0] - b[0])
    const all = runs.map(r => r[1]).sort((a, b) => a - b)
    emit({
      scenario: 'admit-disk-budget-full',
      devices,
      full: guard.view().full,
      buffered: tb.buffer.usage.usageTotal().readings,
      usPerAdmit: Math.round(runs[1]![0] * 10) / 10,
      runsUs: runs.map(r => Math.round(r[0] * 10) / 10),
      // Everything per reading: admit, append, the group commits with their evictions (on this thread: groups
      // with evictions commit inline), with 200 readings per group.
      usPerReadingWithCommit: Math.round(all[1]! * 10) / 10
    })
  } finally {
    tb.dispose()
  }
}

for (const d of o.devices!.split(',').map(Number)) await measure(d)
