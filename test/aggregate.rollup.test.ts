import { test } from 'node:test'
import assert from 'node:assert/strict'
import Database from 'better-sqlite3'
import mqtt from 'mqtt'
import { join } from 'node:path'
import { GatewayProcess } from './harness/gateway.js'
import { writeConfig } from './harness/devices.js'
import { seeded } from '../device-sim/telemetry.js'

// Rollups through real gateway processes, checked against a reference computed here, independently:
// exact decimal sums with BigInt, min/max, last by event time, over the readings the devices had
// acknowledged — across a SIGTERM and a SIGKILL mid-window, and with late readings.

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
const T0 = Date.UTC(2024, 0, 1)
const WINDOW = 2000
const LATENESS = 1000
const STEP = 250

interface Sent {
  device: string
  i: number
  ts: number
  temp: number
  hum: number
  vib: number
}

function readingsOf(device: string, count: number, seed: number): Sent[] {
  const rnd = seeded(seed)
  const out: Sent[] = []
  let temp = 20 + rnd() * 5
  for (let i = 0; i < count; i++) {
    temp += (rnd() - 0.5) * 0.3
    out.push({
      device,
      i,
      ts: T0 + i * STEP,
      temp: Math.round(temp * 100) / 100,
      hum: Math.round((40 + rnd() * 20) * 10) / 10,
      vib: Math.round(rnd() * 2000) / 1000
    })
  }
  return out
}
const payloadOf = (r: Sent): string => JSON.stringify({ ts: r.ts, n: r.i, temp: r.temp, hum: r.hum, vib: r.vib })

/**
 * One device publishing its readings in a given order with QoS 1, one at a time; when the gateway goes
 * away it reconnects and sends the unacknowledged reading again (as a device with a local queue does).
 */
let published = 0
async function publishAll(url: () => string, device: string, list: Sent[], paused: () => Promise<void>): Promise<void> {
  let client: mqtt.MqttClient | null = null
  let closed: Promise<never> = new Promise(() => {})
  for (const r of list) {
    for (;;) {
      await paused()
      try {
        if (client === null) {
          const c = (client = await mqtt.connectAsync(url(), {
            clientId: device,
            reconnectPeriod: 0,
            connectTimeout: 3000
          }))
          // An in-flight QoS 1 publish never settles when the connection drops without reconnects: race the close.
          closed = new Promise((_resolve, reject) => c.once('close', () => reject(new Error('closed'))))
          closed.catch(() => {})
        }
        await Promise.race([client.publishAsync(`devices/${device}/telemetry`, payloadOf(r), { qos: 1 }), closed])
        published++
        break
      } catch {
        client?.end(true)
        client = null
        await sleep(100)
      }
    }
  }
  await client?.endAsync()
}

type Stats = { count: number; min: number; max: number; sum: bigint; lastTs: number; last: number }
const SCALE = { temp: 100n, hum: 10n, vib: 1000n } as const
const toUnits = (v: number, scale: bigint): bigint => BigInt(Math.round(v * Number(scale)))

/** The reference: per device, window and metric, from the readings alone. */
function reference(sent: Sent[]): Map<string, Record<string, Stats>> {
  const out = new Map<string, Record<string, Stats>>()
  for (const r of sent) {
    const key = `${r.device} ${Math.floor(r.ts / WINDOW) * WINDOW}`
    let w = out.get(key)
    if (w === undefined) out.set(key, (w = {}))
    for (const m of ['temp', 'hum', 'vib'] as const) {
      const v = r[m]
      const s = (w[m] ??= { count: 0, min: Infinity, max: -Infinity, sum: 0n, lastTs: -Infinity, last: 0 })
      s.count++
      s.min = Math.min(s.min, v)
      s.max = Math.max(s.max, v)
      s.sum += toUnits(v, SCALE[m])
      if (r.ts > s.lastTs) {
        s.lastTs = r.ts
        s.last = v
      }
    }
  }
  return out
}

interface Rollup {
  device: string
  topic: string
  seq: number
  doc: Record<string, number | boolean | string>
}

function rollupsIn(dataDir: string): Rollup[] {
  const db = new Database(join(dataDir, 'buffer.db'), { readonly: true })
  try {
    const rows = db
      .prepare(
        'SELECT r.seq, d.name AS device, r.topic, r.payload FROM readings r JOIN devices d ON d.id = r.device WHERE r.kind = 1 ORDER BY r.seq'
      )
      .all() as Array<{ seq: number; device: string; topic: string; payload: Buffer }>
    return rows.map(r => ({ device: r.device, topic: r.topic, seq: r.seq, doc: JSON.parse(r.payload.toString()) }))
  } finally {
    db.close()
  }
}

/** Merge every record of a window (on time, late, compacted) as the README says a consumer should. */
function merge(rollups: Rollup[]): Map<string, Record<string, Stats>> {
  const out = new Map<string, Record<string, Stats>>()
  for (const r of rollups) {
    const key = `${r.device} ${r.doc.start as number}`
    let w = out.get(key)
    if (w === undefined) out.set(key, (w = {}))
    for (const m of ['temp', 'hum', 'vib'] as const) {
      const count = r.doc[`${m}.count`] as number | undefined
      if (count === undefined) continue
      const s = (w[m] ??= { count: 0, min: Infinity, max: -Infinity, sum: 0n, lastTs: -Infinity, last: 0 })
      s.count += count
      s.min = Math.min(s.min, r.doc[`${m}.min`] as number)
      s.max = Math.max(s.max, r.doc[`${m}.max`] as number)
      s.sum += toUnits(r.doc[`${m}.sum`] as number, SCALE[m])
      // Each record's own mean is its exact decimal mean, rounded once.
      assert.equal(
        r.doc[`${m}.mean`],
        Number(toUnits(r.doc[`${m}.sum`] as number, SCALE[m])) / (count * Number(SCALE[m])),
        `mean of ${key} ${m}`
      )
      // last: from the record whose last reading is latest in event time (a late one can be).
      const lastTs = (r.doc[`${m}.lastTs`] ?? r.doc.lastTs) as number
      if (lastTs >= s.lastTs) {
        s.lastTs = lastTs
        s.last = r.doc[`${m}.last`] as number
      }
    }
  }
  return out
}

function compare(ref: Map<string, Record<string, Stats>>, got: Map<string, Record<string, Stats>>): void {
  assert.deepEqual(
    [...got.keys()].sort(),
    [...ref.keys()].sort(),
    'one set of windows per device, no window missing or extra'
  )
  for (const [key, want] of ref) {
    const have = got.get(key)!
    for (const m of ['temp', 'hum', 'vib'] as const) {
      const a = have[m]!
      const b = want[m]!
      assert.deepEqual(
        { count: a.count, min: a.min, max: a.max, sum: a.sum, last: a.last },
        { count: b.count, min: b.min, max: b.max, sum: b.sum, last: b.last },
        `${key} ${m}`
      )
    }
  }
}

test('rollups are exact against a reference across SIGTERM and SIGKILL mid-window, with late readings', async () => {
  const config = writeConfig({
    aggregate: {
      rules: {
        tele: {
          topics: ['devices/+/telemetry'],
          mode: 'rollup',
          windowMs: WINDOW,
          latenessMs: LATENESS,
          fields: ['temp:°C', 'hum:%', 'vib']
        }
      }
    }
  })
  const gw = await GatewayProcess.start({ args: ['--config', config] })
  const devices = ['agg-0', 'agg-1', 'agg-2', 'agg-3']
  const perDevice = 1000
  const all: Sent[] = []
  const orders = new Map<string, Sent[]>()
  const held: Sent[] = []
  for (const [k, d] of devices.entries()) {
    const list = readingsOf(d, perDevice, 100 + k)
    all.push(...list)
    const order: Sent[] = []
    for (const r of list) {
      // Every 23rd reading is held back and sent at the very end: far later than the lateness allows.
      // Some of them are the last of their window in event time: the late record then holds `last`.
      if (r.i % 23 === 5 || r.i % 97 === 7) {
        held.push(r)
        continue
      }
      order.push(r)
    }
    // Every 17th pair is swapped: a reading 250 ms late in event time, well within the lateness.
    for (let i = 1; i < order.length; i++) if (i % 17 === 0) [order[i - 1], order[i]] = [order[i]!, order[i - 1]!]
    orders.set(d, order)
  }
  let down: Promise<void> | null = null
  const paused = async (): Promise<void> => {
    while (down !== null) await down
  }
  try {
    const publishing = Promise.all(devices.map(async d => await publishAll(() => gw.url, d, orders.get(d)!, paused)))
    // Mid-window restarts: first an orderly SIGTERM, then a SIGKILL.
    const total = all.length - held.length
    for (const [how, at] of [
      ['term', 0.3],
      ['kill', 0.65]
    ] as const) {
      while (published < total * at) await sleep(20)
      const st = await gw.status()
      assert.ok(st.aggregation.openWindows > 0, 'windows are open when the gateway goes down')
      assert.ok(published < all.length - held.length, `still publishing when the gateway goes down (${published})`)
      let release!: () => void
      down = new Promise(resolve => {
        release = resolve
      })
      if (how === 'term') assert.equal(await gw.stop(), 0)
      else await gw.kill()
      await gw.launch()
      down = null
      release()
    }
    await publishing
    // The held-back readings, long after their windows closed.
    for (const d of devices)
      await publishAll(
        () => gw.url,
        d,
        held.filter(r => r.device === d),
        paused
      )
    const deadline = Date.now() + 30_000
    for (;;) {
      const st = await gw.status()
      if (st.aggregation.openWindows === 0) break
      assert.ok(Date.now() < deadline, 'every window closes (idle rule)')
      await sleep(250)
    }
    const st = await gw.status()
    // Every held-back reading is late: older than watermark - lateness when it arrives, even those whose
    // window was still open (a device's last windows). They are all sent after the last restart, so the
    // since-start counter holds them all. More can be late: readings of a window that the idle rule
    // closed while the gateway was down for longer than windowMs + latenessMs.
    assert.ok(
      st.counters.lateReadings >= held.length,
      `late readings counted (${st.counters.lateReadings}, ${held.length} held back)`
    )
  } finally {
    await gw.stop()
  }
  const rollups = rollupsIn(gw.dataDir)
  const lateIn = new Map<string, number>()
  for (const r of rollups)
    if (r.doc.late === true)
      lateIn.set(
        `${r.device} ${r.doc.start}`,
        (lateIn.get(`${r.device} ${r.doc.start}`) ?? 0) + (r.doc.count as number)
      )
  const heldIn = new Map<string, number>()
  for (const r of held) {
    const key = `${r.device} ${Math.floor(r.ts / WINDOW) * WINDOW}`
    heldIn.set(key, (heldIn.get(key) ?? 0) + 1)
  }
  for (const [key, n] of heldIn)
    assert.ok((lateIn.get(key) ?? 0) >= n, `held-back readings of ${key} are in late rollups`)
  assert.ok(
    held.some(r => (r.ts + STEP) % WINDOW === 0),
    'some held-back readings are the last of their window'
  )
  assert.ok(
    rollups.every(r => r.doc['temp.unit'] === '°C' && r.doc['hum.unit'] === '%'),
    'units from the schema'
  )
  compare(reference(all), merge(rollups))
  // Rollup-only topic: the buffer to forward holds only rollups; the raw readings were kept locally.
  const db = new Database(join(gw.dataDir, 'buffer.db'), { readonly: true })
  try {
    assert.equal(
      db.prepare('SELECT count(*) FROM readings WHERE kind = 0').pluck().get(),
      0,
      'no raw reading is queued for forwarding in rollup mode'
    )
  } finally {
    db.close()
  }
})
