import { test } from 'node:test'
import assert from 'node:assert/strict'
import Database from 'better-sqlite3'
import mqtt from 'mqtt'
import { join } from 'node:path'
import { GatewayProcess } from './harness/gateway.js'
import { writeConfig } from './harness/devices.js'
import { waitFor } from './harness/wait.js'

// The README's late rule through a real gateway: a reading whose window has closed, or whose event time
// is older than the watermark minus the lateness when it arrives, is late — even while its window is
// still open. It goes into a late rollup of its window and is counted in counters.lateReadings.

const BASE = Date.UTC(2024, 0, 1) // a multiple of the window
const WINDOW = 10_000
const LATENESS = 5_000

interface Rollup {
  start: number
  count: number
  late?: boolean
  'v.sum': number
  'v.count': number
}

function rollupsIn(dataDir: string): Rollup[] {
  const db = new Database(join(dataDir, 'buffer.db'), { readonly: true })
  try {
    return (db.prepare('SELECT payload FROM readings WHERE kind = 1 ORDER BY seq').pluck().all() as Buffer[]).map(
      p => JSON.parse(p.toString()) as Rollup
    )
  } finally {
    db.close()
  }
}

test('a reading older than watermark - lateness is late although its window is still open', async () => {
  const config = writeConfig({
    aggregate: {
      rules: { t: { topics: ['devices/+/telemetry'], mode: 'rollup', windowMs: WINDOW, latenessMs: LATENESS } }
    }
  })
  const gw = await GatewayProcess.start({ args: ['--config', config] })
  const client = await mqtt.connectAsync(gw.url, { clientId: 'late-1', reconnectPeriod: 0 })
  const send = async (offset: number, v: number): Promise<void> => {
    await client.publishAsync('devices/late-1/telemetry', JSON.stringify({ ts: BASE + offset, v }), { qos: 1 })
  }
  try {
    await send(1000, 1)
    await send(3500, 2)
    await send(6000, 3)
    await send(12_500, 4) // watermark base+12500: the window [base, base+10000) stays open until base+15000
    await send(8000, 5) // 8000 >= 12500 - 5000: within the lateness, joins its open window
    assert.equal((await gw.status()).counters.lateReadings, 0, 'nothing late so far')
    await send(4000, 6) // 4000 < 12500 - 5000: late, although [base, base+10000) is still open
    assert.equal((await gw.status()).counters.lateReadings, 1, 'the base+4000 reading is counted late')
    assert.ok((await gw.status()).aggregation.openWindows >= 3, 'on-time windows and the late rollup are open')
    // Move the watermark past both windows (closes them by the watermark rule); the late rollup closes
    // after max(lateness, 1 s) without further late readings.
    await send(30_000, 7)
    await waitFor('the late rollup to close', async () => (await gw.status()).aggregation.openWindows === 1, 30_000)
    assert.equal((await gw.status()).counters.lateReadings, 1, 'counted once')
  } finally {
    await client.endAsync()
    await gw.stop()
  }
  const byStart = rollupsIn(gw.dataDir).map(r => ({
    start: r.start - BASE,
    late: r.late === true,
    count: r.count,
    sum: r['v.sum']
  }))
  assert.deepEqual(
    byStart.sort((a, b) => a.start - b.start || Number(a.late) - Number(b.late)),
    [
      { start: 0, late: false, count: 4, sum: 1 + 2 + 3 + 5 },
      { start: 0, late: true, count: 1, sum: 6 },
      { start: 10_000, late: false, count: 1, sum: 4 }
    ],
    'the on-time rollup of [base, base+10s) holds 1000, 3500, 6000 and 8000; its late rollup holds 4000'
  )
})
