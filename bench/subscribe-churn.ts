/**
 * Subscription churn benchmark: PUBACK latency of well-behaved devices while one device, in a child
 * process of its own, cycles SUBSCRIBE/UNSUBSCRIBE of many filters on a clean session as fast as the
 * gateway answers. Three fresh gateways: no churn, churn with the subscription rate quota off
 * (`quota.subscribeFiltersPerS` at its maximum, as before it existed), churn under the default quota.
 * stdout: one JSON line per run, then one comparison line; progress on stderr.
 *
 *   node dist/bench/subscribe-churn.js [--devices 50] [--rate 5] [--duration 10] [--filters 1000] [--repeat 1]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { connectDevice, emit, runRole, startGateway } from './procs.js'
import { hashCheap, secretOf } from '../test/harness/devices.js'
import { percentile, publishPaced } from '../test/harness/fleet.js'

const { values: o } = parseArgs({
  options: {
    role: { type: 'string', default: 'driver' },
    url: { type: 'string' },
    devices: { type: 'string', default: '50' },
    rate: { type: 'string', default: '5' },
    duration: { type: 'string', default: '10' },
    filters: { type: 'string', default: '1000' },
    repeat: { type: 'string', default: '1' }
  }
})
const num = (k: keyof typeof o): number => {
  const v = Number(o[k])
  if (!Number.isFinite(v) || v <= 0) {
    process.stderr.write(`subscribe-churn: --${k} must be a positive number\n`)
    process.exit(2)
  }
  return v
}
const DEVICES = num('devices')
const DURATION_MS = num('duration') * 1000
const FILTERS = num('filters')
const log = (m: string): void => {
  process.stderr.write(`[subscribe-churn] ${m}\n`)
}

if (o.role === 'churner') {
  // Child: SUBSCRIBE then UNSUBSCRIBE all FILTERS filters (100 a packet), again and again, for DURATION_MS.
  const c = await connectDevice(o.url!, 'churner')
  const filters = Array.from({ length: FILTERS }, (_, i) => `devices/churner/cmd/f${i}`)
  const packets = Array.from({ length: Math.ceil(FILTERS / 100) }, (_, i) => filters.slice(i * 100, i * 100 + 100))
  const start = Date.now()
  const end = start + DURATION_MS
  let cycled = 0
  while (Date.now() < end) {
    await Promise.all(packets.map(async p => await c.subscribeAsync(p, { qos: 1 })))
    await Promise.all(packets.map(async p => await c.unsubscribeAsync(p)))
    cycled += FILTERS * 2
  }
  c.end(true)
  // A cycle under the quota outlasts the window: the rate is over the time it really took.
  process.stdout.write(JSON.stringify({ filtersPerS: Math.round(cycled / ((Date.now() - start) / 1000)) }) + '\n')
  process.exit(0)
}

function runChurner(url: string): Promise<{ filtersPerS: number }> {
  return runRole([
    '--role',
    'churner',
    '--url',
    url,
    '--duration',
    String(DURATION_MS / 1000),
    '--filters',
    String(FILTERS)
  ])
}

type Scenario = 'baseline' | 'churn-unlimited' | 'churn-quota'

async function scenario(name: Scenario, config: string): Promise<Record<string, unknown>> {
  const g = await startGateway({ cpu: null, config, anonymous: false })
  const url = `mqtt://127.0.0.1:${g.mqttPort}`
  try {
    const ids = Array.from({ length: DEVICES }, (_, i) => `good-${i}`)
    const clients = await Promise.all(ids.map(async id => await connectDevice(url, id)))
    const churner = name === 'baseline' ? null : runChurner(url)
    if (churner !== null) await new Promise(resolve => setTimeout(resolve, 300))
    const results = await Promise.all(
      clients.map(
        async (c, i) =>
          await publishPaced(c, ids[i]!, {
            rate: num('rate'),
            durationMs: DURATION_MS,
            window: 100,
            drainMs: 10_000,
            payloadBytes: 0
          })
      )
    )
    const churned = churner !== null ? await churner : null
    await Promise.all(clients.map(async c => await c.endAsync()))
    const status = (await (await fetch(`${g.http}/api/status`)).json()) as {
      counters: { refused: Record<string, number> }
    }
    const lat = results.flatMap(r => r.latencies)
    return {
      bench: 'subscribe-churn',
      scenario: name,
      goodDevices: DEVICES,
      goodP50Ms: percentile(lat, 0.5),
      goodP99Ms: percentile(lat, 0.99),
      goodMaxMs: percentile(lat, 1),
      goodAcked: results.reduce((a, r) => a + r.acked, 0),
      goodSent: results.reduce((a, r) => a + r.sent, 0),
      churnFiltersPerS: churned?.filtersPerS ?? 0,
      subscribeRateLimited: status.counters.refused.subscribe_rate_limited ?? 0
    }
  } finally {
    await g.stop()
  }
}

const cfgDir = mkdtempSync(join(tmpdir(), 'hf-churn-cfg-'))
const devices: Record<string, unknown> = { churner: { passwordHash: await hashCheap(secretOf('churner')) } }
for (let i = 0; i < DEVICES; i++) devices[`good-${i}`] = { passwordHash: await hashCheap(secretOf(`good-${i}`)) }
const configOf = (name: string, quota: Record<string, number>): string => {
  const file = join(cfgDir, `${name}.json`)
  writeFileSync(file, JSON.stringify({ devices, quota }))
  return file
}
const configs: Record<Scenario, string> = {
  baseline: configOf('baseline', {}),
  'churn-unlimited': configOf('unlimited', { subscribeFiltersPerS: 1_000_000, subscribeFiltersBurst: 10_000_000 }),
  'churn-quota': configOf('quota', {})
}
const p50s: Record<Scenario, number[]> = { baseline: [], 'churn-unlimited': [], 'churn-quota': [] }
for (let k = 0; k < num('repeat'); k++) {
  for (const name of Object.keys(configs) as Scenario[]) {
    log(`${name} run ${k + 1}`)
    const line = await scenario(name, configs[name])
    p50s[name].push(line.goodP50Ms as number)
    emit(line)
  }
}
const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!
emit({
  bench: 'subscribe-churn',
  compare: 'goodP50Ms',
  baseline: median(p50s.baseline),
  churnUnlimited: median(p50s['churn-unlimited']),
  churnQuota: median(p50s['churn-quota'])
})
rmSync(cfgDir, { recursive: true, force: true })
