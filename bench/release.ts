/**
 * What releasing acknowledged readings costs the broker's thread, in process (no MQTT, no Kafka): a
 * buffer holding --readings readings from --devices devices, interleaved as a fleet publishes them, is
 * read in pages as the forwarder reads it and released --chunk readings a transaction (the ranged
 * delete, the re-send record, the devices' lifetime totals), with nothing else on the thread.
 *
 *   node dist/bench/release.js [--readings 200000] [--devices 1000] [--chunk 1024] [--repeat 3]
 *
 * stdout: one JSON line per run (µs a reading, the longest transaction), then a `median` line.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ReadingBuffer } from '../src/store/buffer.js'
import { openDatabase } from '../src/store/db.js'
import { emit } from './procs.js'

const { values: opt } = parseArgs({
  options: {
    readings: { type: 'string', default: '200000' },
    devices: { type: 'string', default: '1000' },
    chunk: { type: 'string', default: '1024' },
    repeat: { type: 'string', default: '3' }
  }
})
const N = Number(opt.readings)
const DEVICES = Number(opt.devices)
const CHUNK = Number(opt.chunk)
/** The forwarder's page (run-reads.ts PAGE_ROWS). */
const PAGE = 10_000

async function once(run: number): Promise<{ usPerReading: number; maxMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'hf-release-'))
  const db = openDatabase({ dataDir: dir, synchronous: 'normal' })
  const buffer = new ReadingBuffer(db, 2)
  try {
    const appended: Array<Promise<void>> = []
    const payload = Buffer.from(
      '{"t":21.5,"h":40.2,"p":1013.2,"batt":3.71,"rssi":-61,"seq":123456,"ok":true,"x":"abcdefgh"}'
    )
    for (let i = 0; i < N; i++) {
      const device = `dev-${i % DEVICES}`
      appended.push(
        new Promise((resolve, reject) =>
          buffer.writer.append(
            { device, topic: `devices/${device}/telemetry`, payload, eventMs: Date.now(), qos: 1 },
            err => (err === null ? resolve() : reject(err))
          )
        )
      )
    }
    await Promise.all(appended)
    let spentNs = 0n
    let maxNs = 0n
    let after = 0
    for (;;) {
      const page = buffer.lanes.reads.lane(0, 0, after, Number.MAX_SAFE_INTEGER, PAGE)
      const n = page.readings.length
      if (n === 0) break
      for (let from = 0; from < n; from += CHUNK) {
        const t = process.hrtime.bigint()
        buffer.lanes.releasePart(page.part, from, Math.min(n, from + CHUNK), from === 0)
        const d = process.hrtime.bigint() - t
        spentNs += d
        if (d > maxNs) maxNs = d
      }
      after = page.readings[n - 1]!.seq
    }
    const r = {
      usPerReading: Math.round(Number(spentNs) / N) / 1000,
      maxMs: Math.round(Number(maxNs) / 1e4) / 100
    }
    emit({
      scenario: 'release',
      run,
      readings: N,
      devices: DEVICES,
      chunk: CHUNK,
      released: buffer.lanes.released,
      ...r
    })
    return r
  } finally {
    buffer.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const runs: Array<{ usPerReading: number; maxMs: number }> = []
for (let i = 1; i <= Number(opt.repeat); i++) runs.push(await once(i))
emit({
  scenario: 'release',
  median: true,
  usPerReading: median(runs.map(r => r.usPerReading)),
  maxMs: median(runs.map(r => r.maxMs))
})
