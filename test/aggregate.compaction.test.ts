import { test } from 'node:test'
import assert from 'node:assert/strict'
import Database from 'better-sqlite3'
import mqtt from 'mqtt'
import { join } from 'node:path'
import { GatewayProcess } from './harness/gateway.js'
import { writeConfig } from './harness/devices.js'

// Degrade before dropping, through a real gateway with no uplink (a long outage) and a 1 MiB disk
// budget: as the buffer nears the budget, its oldest raw readings of a topic with an aggregate rule are
// compacted into rollups — before any reading is dropped — and those rollups are exact over exactly
// the readings they replaced. A topic without a rule is never compacted.

const T0 = Date.UTC(2024, 5, 1)
const WINDOW = 10_000
const MiB = 1024 * 1024

interface Sent {
  device: string
  i: number
  ts: number
  temp: number
  hum: number
}
const readingOf = (device: string, i: number): Sent => ({
  device,
  i,
  ts: T0 + i * 1000,
  temp: Math.round((20 + ((i * 37) % 500) / 100) * 100) / 100,
  hum: Math.round((40 + ((i * 13) % 300) / 10) * 10) / 10
})
const payloadOf = (r: Sent): string =>
  JSON.stringify({ ts: r.ts, n: r.i, temp: r.temp, hum: r.hum, note: 'steady state reading' })

async function publish(c: mqtt.MqttClient, topic: string, payloads: string[], window = 32): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < payloads.length) await c.publishAsync(topic, payloads[next++]!, { qos: 1 })
  }
  await Promise.all(Array.from({ length: window }, worker))
}

interface Row {
  seq: number
  device: string
  topic: string
  payload: Buffer
  kind: number
}
function bufferRows(dataDir: string): Row[] {
  const db = new Database(join(dataDir, 'buffer.db'), { readonly: true })
  try {
    return db
      .prepare(
        'SELECT r.seq, d.name AS device, r.topic, r.payload, r.kind FROM readings r JOIN devices d ON d.id = r.device ORDER BY r.seq'
      )
      .all() as Row[]
  } finally {
    db.close()
  }
}

type Stats = { count: number; min: number; max: number; units: bigint; last: number; lastKey: number }
const SCALE = { temp: 100n, hum: 10n } as const
const units = (v: number, m: 'temp' | 'hum'): bigint => BigInt(Math.round(v * Number(SCALE[m])))

test('a small disk budget in a long outage: old raw readings are compacted into exact rollups before anything is dropped', async () => {
  const config = writeConfig({
    store: { maxBytes: MiB },
    aggregate: {
      rules: { tele: { topics: ['devices/+/telemetry'], mode: 'raw', windowMs: WINDOW, fields: ['temp', 'hum'] } }
    }
  })
  const gw = await GatewayProcess.start({ args: ['--config', config] })
  const devices = ['cmp-0', 'cmp-1', 'cmp-2', 'cmp-3']
  const sent: Sent[] = []
  const clients = await Promise.all(devices.map(async d => await mqtt.connectAsync(gw.url, { clientId: d })))
  let rawBytes = 0
  try {
    // A topic without a rule: never compacted.
    const blobs = Array.from({ length: 200 }, (_, k) =>
      JSON.stringify({ ts: T0 + k, n: k, text: 'no rule for this topic' })
    )
    await publish(clients[0]!, 'devices/cmp-0/log', blobs)
    // About 1.8x the budget of raw telemetry, in rounds, checking as it goes that nothing is dropped.
    const perRound = 500
    for (let round = 0; round < 7; round++) {
      await Promise.all(
        devices.map(async (d, k) => {
          const list = Array.from({ length: perRound }, (_, j) => readingOf(d, round * perRound + j))
          sent.push(...list)
          const payloads = list.map(payloadOf)
          for (const p of payloads) rawBytes += p.length + `devices/${d}/telemetry`.length + 40
          await publish(clients[k]!, `devices/${d}/telemetry`, payloads)
        })
      )
      const st = await gw.status()
      const dropped = Object.values(st.counters.dropped as Record<string, number>).reduce((a, b) => a + b, 0)
      assert.equal(dropped, 0, `nothing dropped in round ${round}`)
      assert.ok(st.backlog.bytes <= MiB, `within the budget (${st.backlog.bytes})`)
    }
    const st = await gw.status()
    process.stdout.write(
      `# raw telemetry ${rawBytes} B (${(rawBytes / MiB).toFixed(2)}x the budget); buffer ${st.backlog.bytes} B; compacted ${st.counters.compacted} readings into ${st.aggregation.compactedRollups} rollups, ${st.aggregation.compactedBytesFreed} B freed\n`
    )
    assert.ok(rawBytes > 1.7 * MiB, 'far more raw data than the budget holds')
    assert.ok(st.counters.compacted > 0)
    assert.equal(st.counters.stored, sent.length + 200)
  } finally {
    for (const c of clients) await c.endAsync()
    await gw.stop()
  }

  const rows = bufferRows(gw.dataDir)
  assert.equal(
    rows.filter(r => r.topic === 'devices/cmp-0/log').length,
    200,
    'the topic without a rule kept every raw reading'
  )
  const rawLeft = new Set(
    rows
      .filter(r => r.kind === 0 && r.topic.endsWith('/telemetry'))
      .map(r => `${r.device} ${JSON.parse(r.payload.toString()).n as number}`)
  )
  const compacted = sent.filter(r => !rawLeft.has(`${r.device} ${r.i}`))
  const rollups = rows
    .filter(r => r.kind === 1)
    .map(r => ({ ...r, doc: JSON.parse(r.payload.toString()) as Record<string, number | boolean> }))
  assert.ok(rollups.length > 0 && rollups.every(r => r.doc.compacted === true), 'compacted rollups, marked as such')
  assert.equal(
    rollups.reduce((n, r) => n + (r.doc.count as number), 0),
    compacted.length,
    'the rollups cover exactly the readings no longer there raw'
  )
  // The oldest went first: every compacted reading of a device is older than every raw one left.
  for (const d of devices) {
    const left = sent.filter(r => r.device === d && rawLeft.has(`${d} ${r.i}`)).map(r => r.i)
    const gone = compacted.filter(r => r.device === d).map(r => r.i)
    if (left.length > 0 && gone.length > 0)
      assert.ok(Math.max(...gone) < Math.min(...left), `${d}: compaction took the oldest readings`)
  }

  // Reference over the compacted readings, per device and window.
  const ref = new Map<string, Record<string, Stats>>()
  for (const r of compacted) {
    const key = `${r.device} ${Math.floor(r.ts / WINDOW) * WINDOW}`
    if (!ref.has(key)) ref.set(key, {})
    const w = ref.get(key)!
    for (const m of ['temp', 'hum'] as const) {
      const s = (w[m] ??= { count: 0, min: Infinity, max: -Infinity, units: 0n, last: 0, lastKey: -1 })
      s.count++
      s.min = Math.min(s.min, r[m])
      s.max = Math.max(s.max, r[m])
      s.units += units(r[m], m)
      if (r.ts > s.lastKey) {
        s.lastKey = r.ts
        s.last = r[m]
      }
    }
  }
  // The records of a window (a window may be split across compaction passes) merged.
  const got = new Map<string, Record<string, Stats>>()
  for (const r of rollups) {
    const key = `${r.device} ${r.doc.start as number}`
    assert.equal(r.doc.end, (r.doc.start as number) + WINDOW)
    if (!got.has(key)) got.set(key, {})
    const w = got.get(key)!
    for (const m of ['temp', 'hum'] as const) {
      const s = (w[m] ??= { count: 0, min: Infinity, max: -Infinity, units: 0n, last: 0, lastKey: -1 })
      s.count += r.doc[`${m}.count`] as number
      s.min = Math.min(s.min, r.doc[`${m}.min`] as number)
      s.max = Math.max(s.max, r.doc[`${m}.max`] as number)
      s.units += units(r.doc[`${m}.sum`] as number, m)
      assert.equal(
        r.doc[`${m}.mean`],
        Number(units(r.doc[`${m}.sum`] as number, m)) / ((r.doc[`${m}.count`] as number) * Number(SCALE[m])),
        'the exact mean, rounded once'
      )
      const lastTs = (r.doc[`${m}.lastTs`] ?? r.doc.lastTs) as number
      if (lastTs >= s.lastKey) {
        s.lastKey = lastTs
        s.last = r.doc[`${m}.last`] as number
      }
    }
  }
  assert.deepEqual([...got.keys()].sort(), [...ref.keys()].sort())
  for (const [key, want] of ref) {
    for (const m of ['temp', 'hum'] as const) {
      const a = got.get(key)![m]!
      const b = want[m]!
      assert.deepEqual(
        [a.count, a.min, a.max, a.units, a.last],
        [b.count, b.min, b.max, b.units, b.last],
        `${key} ${m}`
      )
    }
  }
})
