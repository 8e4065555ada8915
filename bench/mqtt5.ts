/**
 * MQTT 5 ingest beside MQTT 3.1.1 on the same workload (bench/ingest.ts, closed loop, QoS 1, Holdfast
 * only), runs alternating so both see the same machine load. Prints ingest's JSON lines, then one
 * line with the ratio of the medians (target: MQTT 5 no worse than 0.9x).
 *
 *   node dist/bench/mqtt5.js [--repeat N] [--duration S] [--closed-conns N] [--closed-inflight W]
 */
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values: opt } = parseArgs({
  options: {
    repeat: { type: 'string', default: '2' },
    duration: { type: 'string', default: '10' },
    'closed-conns': { type: 'string', default: '100' },
    'closed-inflight': { type: 'string', default: '10' }
  },
  strict: true
})
const INGEST = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ingest.js')
const rates: Record<'4' | '5', number[]> = { '4': [], '5': [] }
const repeat = Math.max(1, Math.min(20, Number(opt.repeat) || 1))

for (let run = 0; run < repeat; run++) {
  for (const protocol of ['4', '5'] as const) {
    const r = spawnSync(
      process.execPath,
      [
        INGEST,
        ...['--targets', 'holdfast', '--only', 'closed', '--protocol', protocol],
        ...['--duration', opt.duration!, '--closed-conns', opt['closed-conns']!],
        ...['--closed-inflight', opt['closed-inflight']!]
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000 }
    )
    for (const line of r.stdout.split('\n').filter(l => l.startsWith('{'))) {
      process.stdout.write(line + '\n')
      const j = JSON.parse(line) as { msgsPerS?: unknown; target?: string }
      if (j.target === 'holdfast' && typeof j.msgsPerS === 'number') rates[protocol].push(j.msgsPerS)
    }
  }
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}
const m4 = median(rates['4'])
const m5 = median(rates['5'])
process.stdout.write(
  JSON.stringify({
    scenario: 'closed',
    ratio: 'mqtt5/mqtt311',
    msgsPerS: m4 === null || m5 === null ? null : Math.round((m5 / m4) * 1000) / 1000,
    mqtt5: m5,
    mqtt311: m4,
    runs: repeat,
    of: 'medians',
    target: 0.9
  }) + '\n'
)
