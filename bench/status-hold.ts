/**
 * How long one /api/status build holds the thread it runs on (the broker's, in a gateway), measured in
 * process over a real buffer and lifetime totals with `--devices` devices (test/unit/status-fixture.ts):
 * the longest stretch between two turns of a setImmediate ticker while a build runs. This build: capture,
 * then rows stringified in slices (document-text.ts). `--base DIR`: the same fixture compiled in another
 * tree (e.g. the base commit's, with test/unit/status-fixture.ts copied in), built as it builds it:
 * JSON.stringify of the whole document in one go. Prints a JSON line per fleet size and variant.
 *
 *   node dist/bench/status-hold.js [--devices 1000,5000] [--builds 40] [--base /path/to/tree]
 */
import { parseArgs } from 'node:util'
import { documentText } from '../src/status/document-text.js'
import { emit } from './procs.js'

const { values: o } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000,5000' },
    builds: { type: 'string', default: '40' },
    base: { type: 'string' }
  }
})

interface Fixture {
  counters: { received: number; devices: Map<string, { received: number; dropped: Record<string, number> }> }
  lifetime: { flush: () => void }
  server: { statusDocument: () => { devices: unknown[] } }
  close: () => Promise<void>
}
type Build = (f: Fixture) => Promise<number>

const tick = async (): Promise<void> => await new Promise(resolve => setImmediate(resolve))

/** The longest gap (ms) between two turns of a ticker while `run` goes on. */
async function longestHold(run: () => Promise<unknown>): Promise<number> {
  let last = performance.now()
  let longest = 0
  let on = true
  const spin = (): void => {
    const now = performance.now()
    longest = Math.max(longest, now - last)
    last = now
    if (on) setImmediate(spin)
  }
  setImmediate(spin)
  await tick()
  longest = 0
  last = performance.now()
  await run()
  on = false
  await tick()
  return longest
}

const variants: Array<{ label: string; fixture: string; build: Build }> = [
  {
    label: 'sliced',
    fixture: '../test/unit/status-fixture.js',
    build: async f => {
      const pieces = await documentText(f.server.statusDocument(), null, t => Buffer.from(t))
      return pieces.reduce((n, p) => n + p.length, 0)
    }
  }
]
if (o.base !== undefined)
  variants.push({
    label: 'whole',
    fixture: `${o.base}/dist/test/unit/status-fixture.js`,
    build: async f =>
      await new Promise(resolve =>
        setImmediate(() => resolve(Buffer.from(JSON.stringify(f.server.statusDocument())).length))
      )
  })

const q = (xs: number[], p: number): number =>
  Math.round(xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]! * 10) / 10
for (const n of o.devices.split(',').map(Number)) {
  for (const v of variants) {
    const { statusFixture } = (await import(v.fixture)) as { statusFixture: (n: number) => Promise<Fixture> }
    const f = await statusFixture(n)
    let i = 0
    for (const d of f.counters.devices.values()) {
      d.received = 100 + (i % 50)
      f.counters.received += d.received
      if (i++ % 3 === 0) d.dropped.acl_denied = 1
    }
    f.lifetime.flush()
    const holds: number[] = []
    let bytes = 0
    for (let b = 0; b < Number(o.builds); b++) {
      holds.push(await longestHold(async () => (bytes = await v.build(f))))
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    await f.close()
    holds.sort((a, b) => a - b)
    emit({
      bench: 'status-hold',
      variant: v.label,
      devices: n,
      bytes,
      holdMs: { p50: q(holds, 0.5), p90: q(holds, 0.9), max: q(holds, 1) }
    })
  }
}
