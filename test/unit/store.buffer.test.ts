import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setImmediate as tick } from 'node:timers/promises'
import { isHoldfastError } from '../../src/errors.js'
import type { Eviction } from '../../src/store/evictions.js'
import { KIND_RAW, KIND_ROLLUP, rowBytes } from '../../src/store/reading.js'
import { append, reading, storedRows, tempBuffer } from './setup.js'

test('group commit: readings appended in one turn are made durable by one transaction, in order', async t => {
  const tb = tempBuffer()
  t.after(tb.dispose)
  const seqs = await Promise.all(Array.from({ length: 300 }, (_, i) => append(tb.buffer, reading(`d${i % 3}`, i))))
  assert.deepEqual(
    seqs,
    Array.from({ length: 300 }, (_, i) => i + 1),
    'seqs are consecutive in append order'
  )
  assert.equal(tb.buffer.writer.totals.commits, 1)
  assert.equal(tb.buffer.writer.totals.committed, 300)
  assert.deepEqual(tb.buffer.usage.usageOf('d1').readings, 100)

  const again = tb.reopen()
  t.after(again.dispose)
  const rows = storedRows(again.db)
  assert.equal(rows.length, 300, 'every acknowledged reading is in the file after a reopen')
  assert.deepEqual(rows[299]!.payload.toString(), '{"n":299}')
  assert.equal(await append(again.buffer, reading('d0', 300)), 301, 'the sequence continues across a restart')
})

test('group commit window: readings arriving within the window after a commit share the next one', async t => {
  const tb = tempBuffer(500)
  t.after(tb.dispose)
  await append(tb.buffer, reading('d', 0))
  assert.equal(tb.buffer.writer.totals.commits, 1, 'after a quiet spell a reading is committed at once')
  const waiting: Array<Promise<number>> = []
  for (let i = 1; i <= 5; i++) {
    waiting.push(append(tb.buffer, reading('d', i)))
    await tick()
  }
  assert.equal(tb.buffer.writer.totals.commits, 1, 'nothing committed before the window ends')
  assert.deepEqual(await Promise.all(waiting), [2, 3, 4, 5, 6])
  assert.equal(tb.buffer.writer.totals.commits, 2, 'the five readings went into one commit')
})

test('a failed commit answers every waiting append with HF_ERR_STORE_COMMIT and acknowledges none', async t => {
  const tb = tempBuffer()
  t.after(() => tb.dispose())
  await append(tb.buffer, reading('d', 0))
  tb.db.close()
  const results = await Promise.allSettled([append(tb.buffer, reading('d', 1)), append(tb.buffer, reading('d', 2))])
  for (const r of results) {
    assert.equal(r.status, 'rejected')
    assert.ok(isHoldfastError(r.reason, 'HF_ERR_STORE_COMMIT'), String(r.reason))
  }
  assert.equal(tb.buffer.writer.lastCommitOk(), false)
  assert.equal(tb.buffer.writer.totals.commitErrors, 1)
})

test("evictions: a device's oldest readings go in the same commit as the new one, and listeners hear it", async t => {
  const tb = tempBuffer()
  t.after(tb.dispose)
  for (let i = 0; i < 5; i++) await append(tb.buffer, reading('a', i))
  await append(tb.buffer, reading('b', 0))
  const heard: Eviction[] = []
  tb.buffer.evictions.onEvict(e => heard.push(e))
  tb.buffer.evictions.evictOldest('a', 2, 0, 'quota_drop_oldest')
  assert.equal(tb.buffer.usage.projectedOf('a').readings, 3, 'the projection counts the eviction before it runs')
  await append(tb.buffer, reading('a', 5))
  assert.deepEqual(
    storedRows(tb.db)
      .filter(r => r.device === 'a')
      .map(r => r.payload.toString()),
    ['{"n":2}', '{"n":3}', '{"n":4}', '{"n":5}']
  )
  assert.equal(heard.length, 1)
  assert.equal(heard[0]!.device, 'a')
  assert.equal(heard[0]!.readings, 2)
  assert.equal(heard[0]!.reason, 'quota_drop_oldest')
  assert.equal(tb.buffer.usage.usageOf('a').readings, 4)
  const one = rowBytes('devices/a/telemetry', Buffer.from('{"n":0}'))
  assert.equal(heard[0]!.bytes, 2 * one)
  assert.deepEqual(tb.buffer.usage.usageOf('a'), { readings: 4, bytes: 4 * one })
  assert.equal(tb.buffer.usage.usageOf('b').readings, 1, 'other devices keep theirs')
})

test('evicting by bytes takes whole readings until at least that many bytes are free', async t => {
  const tb = tempBuffer()
  t.after(tb.dispose)
  for (let i = 0; i < 4; i++) await append(tb.buffer, reading('a', i))
  const per = tb.buffer.usage.usageOf('a').bytes / 4
  const heard: Eviction[] = []
  tb.buffer.evictions.onEvict(e => heard.push(e))
  tb.buffer.evictions.evictOldest('a', 0, per + 1, 'disk_drop_oldest')
  await new Promise<void>(resolve => tb.buffer.writer.onCommit(resolve))
  assert.equal(heard[0]!.readings, 2)
  assert.equal(tb.buffer.usage.usageOf('a').readings, 2)
})

test('lanes: highest priority first, rollups before raw; each lane reads and releases only its own readings', async t => {
  const tb = tempBuffer()
  t.after(tb.dispose)
  const put = (n: number, cls: number, kind = KIND_RAW) => append(tb.buffer, reading('d', n, { cls, kind }))
  await put(0, 0)
  await put(1, 3)
  await put(2, 0)
  await put(3, 0, KIND_ROLLUP)
  await put(4, 3)
  await put(5, 0)
  assert.deepEqual(tb.buffer.lanes.list(), [
    { cls: 3, kind: KIND_RAW, readings: 2 },
    { cls: 0, kind: KIND_ROLLUP, readings: 1 },
    { cls: 0, kind: KIND_RAW, readings: 3 }
  ])
  const alarms = tb.buffer.lanes.readLane(3, KIND_RAW, 0, Number.MAX_SAFE_INTEGER, 10)
  assert.deepEqual(
    alarms.map(r => r.seq),
    [2, 5]
  )
  tb.buffer.lanes.releaseRun(alarms)
  assert.equal(tb.buffer.lanes.list().filter(l => l.cls === 3 && l.kind === KIND_RAW).length, 0)
  assert.deepEqual(
    storedRows(tb.db).map(r => r.seq),
    [1, 3, 4, 6],
    'the other lanes keep the rows between'
  )
  const bulk = tb.buffer.lanes.readLane(0, KIND_RAW, 0, Number.MAX_SAFE_INTEGER, 10)
  assert.deepEqual(
    bulk.map(r => r.seq),
    [1, 3, 6]
  )
  tb.buffer.lanes.releaseRun(bulk.slice(0, 2))
  assert.deepEqual(
    storedRows(tb.db).map(r => r.seq),
    [4, 6],
    'a released run leaves the rollup inside its seq range'
  )
  assert.equal(tb.buffer.usage.usageTotal().readings, 2)

  const again = tb.reopen()
  t.after(again.dispose)
  assert.deepEqual(
    again.buffer.lanes.list(),
    [
      { cls: 0, kind: KIND_ROLLUP, readings: 1 },
      { cls: 0, kind: KIND_RAW, readings: 1 }
    ],
    'lanes are recounted from the file on start'
  )
})

test('release: a reading already evicted while it was being sent is counted once', async t => {
  const tb = tempBuffer()
  t.after(tb.dispose)
  for (let i = 0; i < 3; i++) await append(tb.buffer, reading('a', i))
  const sending = tb.buffer.lanes.readLane(0, KIND_RAW, 0, Number.MAX_SAFE_INTEGER, 10)
  tb.buffer.evictions.evictOldest('a', 1, 0, 'quota_drop_oldest')
  await append(tb.buffer, reading('a', 3))
  tb.buffer.lanes.releaseRun(sending)
  assert.deepEqual(tb.buffer.usage.usageOf('a'), { readings: 1, bytes: tb.buffer.usage.usageTotal().bytes })
  assert.equal(tb.buffer.usage.usageTotal().readings, 1)
  assert.deepEqual(
    storedRows(tb.db).map(r => r.payload.toString()),
    ['{"n":3}']
  )
})

test('release of a priority lane: a run all there, then a run with one reading evicted meanwhile: each reading counted once', async t => {
  const tb = tempBuffer()
  t.after(tb.dispose)
  for (let i = 0; i < 4; i++) await append(tb.buffer, reading('a', i, { cls: 2 }))
  for (let i = 0; i < 3; i++) await append(tb.buffer, reading('b', i, { cls: 2 }))
  await append(tb.buffer, reading('c', 0))
  const lane = tb.buffer.lanes.readLane(2, KIND_RAW, 0, Number.MAX_SAFE_INTEGER, 10)
  assert.equal(lane.length, 7)
  tb.buffer.lanes.releaseRun(lane.slice(0, 4))
  assert.equal(tb.buffer.usage.usageOf('a').readings, 0)
  tb.buffer.evictions.evictOldest('b', 1, 0, 'quota_drop_oldest')
  await append(tb.buffer, reading('c', 1))
  tb.buffer.lanes.releaseRun(lane.slice(4))
  assert.equal(tb.buffer.usage.usageOf('b').readings, 0)
  assert.equal(tb.buffer.usage.usageOf('b').bytes, 0)
  assert.equal(tb.buffer.usage.usageTotal().readings, 2, "only c's two readings are left")
  assert.deepEqual(
    tb.buffer.lanes.list().map(l => [l.cls, l.kind, l.readings]),
    [[0, KIND_RAW, 2]],
    'the priority lane is empty, counted to 0'
  )
  assert.deepEqual(
    storedRows(tb.db).map(r => r.device),
    ['c', 'c']
  )
})

test('retention: released raw readings move to kept and leave with time or when the disk budget trims them', async t => {
  const tb = tempBuffer()
  t.after(tb.dispose)
  tb.buffer.retention.setRetention(60_000)
  for (let i = 0; i < 4; i++) await append(tb.buffer, reading('a', i))
  tb.buffer.lanes.releaseRun(tb.buffer.lanes.readLane(0, KIND_RAW, 0, Number.MAX_SAFE_INTEGER, 10))
  assert.equal(tb.buffer.usage.usageTotal().readings, 0)
  assert.equal(tb.buffer.retention.keptTotal().readings, 4)
  const per = tb.buffer.retention.keptTotal().bytes / 4
  assert.equal(tb.buffer.retention.trimKept(per), per)
  await new Promise<void>(resolve => tb.buffer.writer.onCommit(resolve))
  assert.equal(tb.buffer.retention.keptTotal().readings, 3, 'the budget took the oldest kept reading')
  assert.equal(tb.buffer.retention.sweepKept(Date.now()), 0, 'nothing is due yet')
  assert.equal(tb.buffer.retention.sweepKept(Date.now() + 61_000), 3)
  assert.deepEqual(tb.buffer.retention.keptTotal(), { readings: 0, bytes: 0 })
})

test('usage: the projection the disk budget walks agrees with projectedOf through appends, evictions and commits', async t => {
  const tb = tempBuffer()
  t.after(tb.dispose)
  const { usage } = tb.buffer
  const agree = (when: string): void => {
    const { names, bytes } = usage.projectedAll()
    for (let i = 0; i < names.length; i++)
      assert.equal(bytes[i], usage.projectedOf(names[i]!).bytes, `${names[i]} ${when}`)
    for (const d of ['a', 'b', 'c']) assert.equal(usage.projectedBytesOf(d), usage.projectedOf(d).bytes, `${d} ${when}`)
  }
  for (let i = 0; i < 6; i++) await append(tb.buffer, reading(i % 2 === 0 ? 'a' : 'b', i))
  agree('after commits')
  const waiting = [append(tb.buffer, reading('a', 10)), append(tb.buffer, reading('c', 11))]
  tb.buffer.evictions.evictOldest('b', 1, 0, 'quota_drop_oldest')
  agree('with appends and an eviction queued')
  await Promise.all(waiting)
  agree('after they committed')
  assert.deepEqual(usage.projectedAll().names, ['a', 'b', 'c'])
  assert.equal(usage.projectedBytesOf('b'), usage.usageOf('b').bytes)
})

test('evictions in a prioritised class take its oldest readings first, raw readings and rollups alike, and go on from there', async t => {
  const tb = tempBuffer()
  t.after(tb.dispose)
  // Class 1: raw readings and rollups interleaved, then a bulk reading of another device.
  for (let i = 0; i < 8; i++)
    await append(tb.buffer, reading('a', i, { cls: 1, kind: i % 3 === 1 ? KIND_ROLLUP : KIND_RAW }))
  await append(tb.buffer, reading('b', 100))
  const left = (): number[] =>
    storedRows(tb.db)
      .filter(r => r.device === 'a')
      .map(r => JSON.parse(r.payload.toString()).n as number)
  tb.buffer.evictions.evictOldest('a', 3, 0, 'quota_drop_oldest')
  await append(tb.buffer, reading('b', 101))
  assert.deepEqual(left(), [3, 4, 5, 6, 7], 'the three oldest, a rollup among them')
  tb.buffer.evictions.evictOldest('a', 2, 0, 'quota_drop_oldest')
  await append(tb.buffer, reading('b', 102))
  assert.deepEqual(left(), [5, 6, 7], 'the next two, from where the last eviction stopped')
  assert.equal(tb.buffer.usage.usageOf('a').readings, 3)
})
