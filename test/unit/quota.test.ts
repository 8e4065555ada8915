import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TokenBucket } from '../../src/quota/bucket.js'
import { KeyedBuckets } from '../../src/quota/keyed.js'
import { QuotaBook } from '../../src/quota/limits.js'
import { StorageGuard } from '../../src/quota/storage.js'
import { Throttle } from '../../src/quota/throttle.js'
import { FilterRate } from '../../src/quota/filter-rate.js'
import { loadConfig } from '../../src/config/load.js'
import { Counters } from '../../src/metrics/counters.js'
import { rowBytes } from '../../src/store/reading.js'
import { append, memoryLogger, reading, storedRows, tempBuffer } from './setup.js'

test('token bucket: a burst at once, then the rate; debt answers how long to wait', () => {
  const b = new TokenBucket(10, 5, 0)
  for (let i = 0; i < 5; i++) assert.equal(b.take(1, 0), 0)
  assert.equal(b.take(1, 0), 100, 'one token in debt at 10/s is 100 ms')
  assert.equal(b.take(1, 0), 200, 'successive takers wait longer: order is kept')
  assert.equal(b.take(1, 1000), 0, 'a second later the debt is paid and tokens are back')
  assert.equal(b.tryTake(1000), true)
  const c = new TokenBucket(1, 1, 0)
  assert.equal(c.tryTake(0), true)
  assert.equal(c.tryTake(0), false, 'tryTake never goes into debt')
  assert.equal(c.level(0), 0)
})

test('keyed buckets: each address has its own, and a flood of addresses stays bounded', () => {
  const k = new KeyedBuckets(1, 2, 100)
  assert.equal(k.tryTake('a', 0), true)
  assert.equal(k.tryTake('a', 0), true)
  assert.equal(k.tryTake('a', 0), false)
  assert.equal(k.exhausted('a', 0), true)
  assert.equal(k.tryTake('b', 0), true, 'another address is not affected')
  for (let i = 0; i < 1000; i++) k.tryTake(`x${i}`, 0)
  assert.equal(k.tryTake('a', 2000), true, 'refilled after its rate')
})

test('throttle: publishes over the rate are held, in order, and released once within it; none dropped', async () => {
  const t = new Throttle(10, 2, 1_000_000, 1_000_000)
  const done: number[] = []
  const started = performance.now()
  for (let i = 0; i < 6; i++) {
    if (t.pass(10)) done.push(i)
    else t.hold(() => done.push(i))
  }
  assert.deepEqual(done, [0, 1], 'the burst passes at once')
  assert.equal(t.held, 4)
  while (done.length < 6) await new Promise(r => setTimeout(r, 10))
  assert.deepEqual(done, [0, 1, 2, 3, 4, 5], 'held publishes go in arrival order')
  assert.ok(performance.now() - started >= 300, 'four publishes over a 10/s rate are not all let through at once')
  assert.equal(t.held, 0)
  assert.equal(t.throttled, 4)
})

test('throttle: a publish behind held ones waits its turn even when its own tokens are there', () => {
  // Bytes refill at 1 B/s, so no pause of a loaded machine lets the second publish through.
  const t = new Throttle(1000, 1000, 1, 100)
  assert.equal(t.pass(100), true)
  assert.equal(t.pass(50), false, 'over the byte burst')
  t.hold(() => {})
  assert.equal(t.pass(0), false, 'a held publish is ahead of it')
  t.hold(() => {})
  assert.equal(t.held, 2)
})

test('pacer: held work cancelled (its client closed) gives back exactly the tokens it took and never runs', () => {
  // 100 s a filter: nothing refills while the test runs.
  const r = new FilterRate(0.01, 5)
  assert.equal(r.pass(2), true)
  assert.equal(r.pass(4), false, 'over the 3 tokens left')
  let ran = false
  const h = r.hold(() => (ran = true))
  assert.equal(r.held, 1)
  r.cancel(h)
  r.cancel(h)
  assert.equal(r.held, 0, 'no longer held, counted once')
  assert.equal(r.throttled, 1, 'it was held: still counted as such')
  assert.equal(r.pass(3), true, 'its 4 tokens are back')
  assert.equal(r.pass(1), false, 'and no more than those')
  assert.equal(ran, false)
})

test('pacer: work held behind cancelled work still runs, in order', async () => {
  const r = new FilterRate(20, 1)
  assert.equal(r.pass(1), true)
  const ran: string[] = []
  assert.equal(r.pass(1), false)
  const a = r.hold(() => ran.push('a'))
  assert.equal(r.pass(1), false)
  r.hold(() => ran.push('b'))
  assert.equal(r.pass(1), false)
  r.hold(() => ran.push('c'))
  r.cancel(a)
  for (let i = 0; i < 200 && ran.length < 2; i++) await new Promise(res => setTimeout(res, 10))
  assert.deepEqual(ran, ['b', 'c'])
  assert.equal(r.held, 0)
})

const MiB = 1024 * 1024

/** A storage guard over a real buffer, with limits from a config document as the gateway would load it. */
function guarded(doc: Record<string, unknown>) {
  const tb = tempBuffer()
  const { config } = loadConfig({ env: {}, document: doc })
  const counters = new Counters()
  const { log, lines } = memoryLogger()
  const g = new StorageGuard({
    buffer: tb.buffer,
    book: new QuotaBook(config),
    maxBytes: config.store.maxBytes,
    minFreeBytes: config.store.minFreeBytes,
    dataDir: tb.dir,
    counters,
    log
  })
  /** What the admission step does: ask, then append if admitted. */
  const publish = async (device: string, n: number, payloadBytes = 10, cls = 0) => {
    const r = reading(device, n, { payload: Buffer.alloc(payloadBytes, 0x61), cls })
    const verdict = g.admit(device, rowBytes(r.topic, r.payload))
    if (verdict === null) await append(tb.buffer, r)
    else counters.drop(device, verdict)
    return verdict
  }
  const dispose = (): void => {
    g.close()
    tb.dispose()
  }
  return { tb, g, counters, lines, publish, dispose }
}

test('storage quota, reject-new: the reading over the cap is refused and counted; nothing stored is lost', async t => {
  const s = guarded({ devices: { meter: { storagePolicy: 'reject-new', quota: { maxBufferedReadings: 2 } } } })
  t.after(s.dispose)
  assert.equal(await s.publish('meter', 0), null)
  assert.equal(await s.publish('meter', 1), null)
  assert.equal(await s.publish('meter', 2), 'quota_storage')
  assert.equal(s.tb.buffer.usage.usageOf('meter').readings, 2)
  assert.equal(s.counters.device('meter').dropped.quota_storage, 1)
  assert.equal(await s.publish('other', 0), null, 'devices without the quota are not limited')
})

test('storage quota, drop-oldest: the new reading is stored and the oldest goes, counted by device and reason', async t => {
  const s = guarded({ quota: { maxBufferedReadings: 2 } })
  t.after(s.dispose)
  for (let i = 0; i < 4; i++) assert.equal(await s.publish('meter', i), null)
  assert.equal(s.tb.buffer.usage.usageOf('meter').readings, 2)
  assert.deepEqual(
    storedRows(s.tb.db).map(r => r.seq),
    [3, 4]
  )
  assert.equal(s.counters.dropped.quota_drop_oldest, 2)
  assert.equal(s.counters.device('meter').dropped.quota_drop_oldest, 2)
})

test('disk budget: the heaviest drop-oldest device gives way; a device holding less is never made to pay', async t => {
  const s = guarded({
    store: { maxBytes: MiB },
    devices: { strict: { storagePolicy: 'reject-new' } }
  })
  t.after(s.dispose)
  const big = 10 * 1024
  let n = 0
  while (s.tb.buffer.usage.usageTotal().bytes + 2 * (big + 100) < MiB)
    assert.equal(await s.publish('hog', n++, big), null)
  assert.equal(await s.publish('light', 0, big), null)
  assert.equal(await s.publish('light', 1, big), null, 'the hog pays for the light device')
  assert.ok(s.counters.device('hog').dropped.disk_drop_oldest! >= 1)
  assert.equal(s.counters.device('light').dropped.disk_drop_oldest, undefined)
  assert.ok(s.tb.buffer.usage.projectedTotalBytes() <= MiB, 'the buffer stays within its budget')
  assert.equal(await s.publish('strict', 0, big), null, 'a reject-new device is served while the hog can pay')
  const codes = s.lines().filter(l => l.code === 'HF_ERR_DISK_BUDGET')
  assert.equal(codes.length, 1, 'the full budget is logged once, not per reading')
  assert.ok(s.tb.buffer.usage.usageTotal().bytes <= MiB)
})

test('disk budget: the lowest priority class goes first across devices; the heaviest keeps its alarms while others hold telemetry', async t => {
  const s = guarded({ store: { maxBytes: MiB } })
  t.after(s.dispose)
  const big = 10 * 1024
  const cost = big + 'devices/x/telemetry'.length + 40
  // The heaviest device holds only alarms (class 2); a lighter one telemetry (class 0) and events (class 1).
  for (let i = 0; i < 70; i++) assert.equal(await s.publish('siren', i, big, 2), null)
  for (let i = 0; i < 5; i++) assert.equal(await s.publish('meter', 100 + i, big, 1), null)
  let m = 0
  while (s.tb.buffer.usage.projectedTotalBytes() + cost <= MiB)
    assert.equal(await s.publish('meter', m++, big, 0), null)
  const tele = m
  // Each reading of a light device needs room: the meter's telemetry pays (the heaviest holder of the
  // lowest class), not the siren's alarms although the siren holds the most.
  for (let i = 0; i < 10; i++) assert.equal(await s.publish('tiny', i, big, 0), null, `reading ${i} admitted`)
  assert.equal(s.tb.buffer.usage.usageOf('siren').readings, 70, 'no alarm evicted')
  assert.equal(s.counters.device('siren').dropped.disk_drop_oldest, undefined)
  assert.deepEqual(
    s.tb.buffer.usage.projectedClassesOf('meter').map(([c, b]) => [c, Math.round(b / cost)]),
    [
      [0, tele - 10],
      [1, 5]
    ],
    'ten of the meter telemetry readings went, none of its events'
  )
  assert.equal(s.counters.device('meter').dropped.disk_drop_oldest, 10)
  // Later readings of the light device: telemetry (its own, then the meter's) keeps paying; alarms never.
  for (let i = 10; i < 60; i++) assert.equal(await s.publish('tiny', i, big, 0), null)
  assert.equal(s.tb.buffer.usage.usageOf('siren').readings, 70, 'still no alarm evicted')
  assert.ok(s.tb.buffer.usage.usageTotal().bytes <= MiB, 'the buffer stays within its budget')
})

test('disk budget: with no drop-oldest device holding more than the publisher, the reading is refused', async t => {
  const s = guarded({ store: { maxBytes: MiB }, quota: { storagePolicy: 'reject-new' } })
  t.after(s.dispose)
  const big = 64 * 1024
  let refused = null
  for (let i = 0; i < 20 && refused === null; i++) refused = await s.publish('meter', i, big)
  assert.equal(refused, 'disk_budget')
  assert.equal(s.counters.device('meter').dropped.disk_budget, 1)
  assert.ok(s.tb.buffer.usage.usageTotal().bytes <= MiB)
})

test('free space: readings are refused when the data volume would drop under store.minFreeBytes', async t => {
  const s = guarded({ store: { minFreeBytes: Number.MAX_SAFE_INTEGER } })
  t.after(s.dispose)
  s.g.start()
  while (s.g.view().freeBytes === null) await new Promise(r => setTimeout(r, 5))
  assert.equal(await s.publish('meter', 0), 'disk_budget')
  assert.equal(s.g.view().full, true)
})

test('quota book: a device without its own quota or policy shares the defaults; overrides are resolved when asked for', () => {
  const { config } = loadConfig({
    env: {},
    document: {
      quota: { msgsPerS: 50 },
      devices: {
        plain: { passwordHash: '' },
        own: { quota: { msgsPerS: 5, maxPayloadBytes: 16 * 1024 * 1024 } },
        policy: { storagePolicy: 'reject-new' }
      }
    }
  })
  const book = new QuotaBook(config)
  assert.equal(book.of('plain'), book.defaults)
  assert.equal(book.of('unknown'), book.defaults)
  assert.equal(book.of('own').msgsPerS, 5)
  assert.equal(book.of('own').msgsBurst, book.defaults.msgsBurst, 'the rest from quota')
  assert.equal(book.of('own').payloadLimit, config.mqtt.maxPayloadBytes, 'never above mqtt.maxPayloadBytes')
  assert.equal(book.of('own'), book.of('own'), 'resolved once')
  assert.equal(book.of('policy').storagePolicy, 'reject-new')
  assert.equal(book.hasStorageQuotas(), false)
  const capped = loadConfig({ env: {}, document: { devices: { d: { quota: { maxBufferedReadings: 10 } } } } }).config
  assert.equal(new QuotaBook(capped).hasStorageQuotas(), true, "one device's cap is enough")
})
