import { test } from 'node:test'
import assert from 'node:assert/strict'
import Database from 'better-sqlite3'
import mqtt from 'mqtt'
import { join } from 'node:path'
import { Encoder } from 'cbor-x'
import { parsePayload } from '../src/aggregate/payload.js'
import { absorb, newMetric, summary } from '../src/aggregate/stats.js'
import { GatewayProcess } from './harness/gateway.js'
import { writeConfig } from './harness/devices.js'

const cbor = new Encoder({ useRecords: false, mapsAsObjects: true })
const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

test('JSON and CBOR payloads: numeric fields, nested names, schema fields and time field; opaque ones pass', () => {
  const json = parsePayload(
    Buffer.from('{"ts":1700000000000,"temp":21.5,"ok":true,"env":{"hum":40.1,"deep":{"x":1}},"label":"a"}'),
    null
  )!
  assert.deepEqual(
    [json.names, json.values, json.eventMs],
    [['temp', 'env.hum', 'env.deep.x'], [21.5, 40.1, 1], 1_700_000_000_000]
  )
  const picked = parsePayload(Buffer.from('{"t":"2024-01-01T00:00:01Z","temp":21.5,"hum":40,"n":7}'), {
    fields: ['temp', 'hum', 'missing'],
    units: {},
    timeField: 't'
  })!
  assert.deepEqual(
    [picked.names, picked.values, picked.eventMs],
    [['temp', 'hum'], [21.5, 40], Date.UTC(2024, 0, 1, 0, 0, 1)]
  )
  const secs = parsePayload(Buffer.from('{"time":1700000000,"v":1}'), null)!
  assert.equal(secs.eventMs, 1_700_000_000_000, 'epoch seconds')
  const c = parsePayload(cbor.encode({ ts: 1_700_000_000_123, temp: 21.25, env: { hum: 40 } }), null)!
  assert.deepEqual([c.names, c.values, c.eventMs], [['temp', 'env.hum'], [21.25, 40], 1_700_000_000_123])
  const dated = parsePayload(cbor.encode({ when: new Date(1_700_000_000_000), v: 3 }), {
    fields: [],
    units: {},
    timeField: 'when'
  })!
  assert.deepEqual([dated.names, dated.eventMs], [['v'], 1_700_000_000_000])
  for (const opaque of [
    Buffer.from([0, 1, 2, 255]),
    Buffer.from('[1,2,3]'),
    Buffer.from('{"broken":'),
    Buffer.from('21.5'),
    cbor.encode([1, 2]),
    Buffer.alloc(0)
  ]) {
    assert.equal(parsePayload(opaque, null), null, `opaque: ${opaque.toString('hex')}`)
  }
})

test('sums are exact decimal sums, independent of order; the mean is rounded once', () => {
  const values = [21.03, 21.05, 3.912, -0.1, 0.2, 1e-7, 100]
  const a = newMetric()
  const b = newMetric()
  values.forEach((v, i) => absorb(a, v, i, i))
  ;[...values].reverse().forEach((v, i) => absorb(b, v, values.length - 1 - i, values.length - 1 - i))
  assert.deepEqual(summary(a), summary(b))
  assert.equal(summary(a).sum, 146.0920001)
  const two = newMetric()
  absorb(two, 21.03, 1, 1)
  absorb(two, 21.05, 2, 2)
  assert.equal(summary(two).sum, 42.08)
  const bat = newMetric()
  for (const v of [3.912, 3.912, 3.911, 3.911, 3.911, 3.911, 3.91, 3.91, 3.91, 3.91]) absorb(bat, v, 0, 0)
  assert.deepEqual([summary(bat).sum, summary(bat).mean], [39.108, 3.9108])
  // A float32 from CBOR has more than 9 decimals: a plain double sum from then on, still correct.
  const f = newMetric()
  absorb(f, 1.5, 1, 1)
  absorb(f, Math.fround(0.1), 2, 2)
  assert.equal(summary(f).sum, 1.5 + Math.fround(0.1))
  assert.equal(summary(f).last, Math.fround(0.1))
})

test('CBOR readings are rolled up by a gateway like JSON ones', async () => {
  const config = writeConfig({
    aggregate: {
      rules: { c: { topics: ['devices/+/cbor'], mode: 'rollup', windowMs: 1000, latenessMs: 0, fields: ['p:kPa'] } }
    }
  })
  const gw = await GatewayProcess.start({ args: ['--config', config] })
  const t0 = Date.UTC(2024, 0, 1)
  try {
    const c = await mqtt.connectAsync(gw.url, { clientId: 'cbor-dev' })
    for (let i = 0; i < 20; i++)
      await c.publishAsync('devices/cbor-dev/cbor', cbor.encode({ ts: t0 + i * 250, p: 100 + i / 10 }), { qos: 1 })
    await c.endAsync()
    for (let k = 0; k < 100 && (await gw.status()).aggregation.openWindows > 0; k++) await sleep(100)
  } finally {
    await gw.stop()
  }
  const db = new Database(join(gw.dataDir, 'buffer.db'), { readonly: true })
  const docs = (
    db.prepare('SELECT payload, event_ms FROM readings WHERE kind = 1 ORDER BY seq').all() as Array<{
      payload: Buffer
      event_ms: number
    }>
  ).map(r => ({ ...JSON.parse(r.payload.toString()), ev: r.event_ms }))
  const kept = db.prepare('SELECT count(*) FROM kept WHERE event_ms IS NOT NULL').pluck().get() as number
  db.close()
  assert.equal(docs.length, 5)
  docs.forEach((d, w) => {
    const vals = [0, 1, 2, 3].map(j => 100 + (w * 4 + j) / 10)
    assert.deepEqual(
      [d.start, d.end, d.ev, d.count, d['p.min'], d['p.max'], d['p.last'], d['p.unit']],
      [t0 + w * 1000, t0 + w * 1000 + 1000, t0 + w * 1000, 4, vals[0], vals[3], vals[3], 'kPa']
    )
    assert.equal(d['p.sum'], Math.round(vals.reduce((a, b) => a + b, 0) * 10) / 10)
  })
  assert.ok(kept <= 20, 'raw CBOR readings kept locally with their event time (until their window closed)')
})
