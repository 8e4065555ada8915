/**
 * What /api/status costs the broker's thread: a gateway with `--devices` connections publishing a paced
 * QoS 1 load (rawpub, `--rate` msg/s in all), quiet for `--quiet` seconds, then /api/status fetched once
 * a second for `--seconds`. PUBACK latency (rawpub's per-second histograms) in the quiet and the polled
 * seconds tells how long a status build held the thread (no fsync waits in it: store.synchronous = normal);
 * the fetches give the document's size and time.
 * `--cli` runs another build's gateway (e.g. a base commit's dist/src/cli/main.js) to compare.
 * Prints one JSON line: {"bench":"status-cost",...}.
 *
 *   node dist/bench/status-cost.js [--devices 1000] [--rate 2000] [--quiet 10] [--seconds 15] [--cli path]
 */
import { parseArgs } from 'node:util'
import { addHist, emit, histQuantile, loopDelay, pacedArgs, sleep, startGateway, startRawpub } from './procs.js'

const { values: o } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '2000' },
    quiet: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '15' },
    cli: { type: 'string' },
    label: { type: 'string', default: '' }
  }
})
const devices = Number(o.devices)
const quietS = Number(o.quiet)
const pollS = Number(o.seconds)
const WARMUP_S = 3

// No fsync before a PUBACK (store.synchronous = normal): its latency is then the broker thread's.
const gw = await startGateway({ cpu: 0, cli: o.cli, extra: ['--store-synchronous', 'normal'] })
const quiet = new Map<number, number>()
const polled = new Map<number, number>()
/** Each second's largest PUBACK latency: their median shrugs off the odd stall of a shared machine. */
const maxMs: Record<'quiet' | 'polled', number[]> = { quiet: [], polled: [] }
let phase: 'warmup' | 'quiet' | 'polled' | 'done' = 'warmup'
let intervals = 0
let startPolling: () => void = () => {}
const polling = new Promise<void>(resolve => (startPolling = resolve))
const pub = startRawpub(
  1,
  pacedArgs({
    port: gw.mqttPort,
    conns: devices,
    rate: o.rate,
    warmupS: WARMUP_S,
    seconds: quietS + pollS + 2,
    intervalS: 1,
    connectTimeoutS: 120
  }),
  line => {
    intervals++
    if (phase === 'quiet' || phase === 'polled') {
      addHist(phase === 'quiet' ? quiet : polled, line.hist)
      maxMs[phase].push(Number(line.maxMs ?? 0))
    }
    if (intervals === WARMUP_S) phase = 'quiet'
    if (intervals === WARMUP_S + quietS) {
      phase = 'polled'
      startPolling()
    }
  }
)
await polling
const fetches: Array<{ ms: number; bytes: number }> = []
for (let i = 0; i < pollS; i++) {
  const t0 = performance.now()
  const r = await fetch(`${gw.http}/api/status`)
  const bytes = (await r.arrayBuffer()).byteLength
  fetches.push({ ms: performance.now() - t0, bytes })
  await sleep(Math.max(0, 1000 - (performance.now() - t0)))
}
phase = 'done'
const loop = await loopDelay(gw.http)
const result = await pub.result
await gw.stop()
const ms = fetches.map(f => f.ms).sort((a, b) => a - b)
const r1 = (x: number): number => Math.round(x * 10) / 10
const seconds = (xs: number[]): { medianMaxMs: number; worstMaxMs: number } => {
  const s = [...xs].sort((a, b) => a - b)
  return { medianMaxMs: r1(s[Math.floor(s.length / 2)] ?? 0), worstMaxMs: r1(s.at(-1) ?? 0) }
}
emit({
  bench: 'status-cost',
  label: o.label,
  devices,
  ratePerS: Number(o.rate),
  acksPerS: result.acksPerS ?? result.rate ?? null,
  documentBytes: fetches.at(-1)?.bytes ?? null,
  fetchMs: { p50: r1(ms[Math.floor(ms.length / 2)]!), max: r1(ms.at(-1)!) },
  pubackQuietMs: { p50: histQuantile(quiet, 0.5), p99: histQuantile(quiet, 0.99), ...seconds(maxMs.quiet) },
  pubackPolledMs: { p50: histQuantile(polled, 0.5), p99: histQuantile(polled, 0.99), ...seconds(maxMs.polled) },
  loopDelaySinceStartMs: loop
})
