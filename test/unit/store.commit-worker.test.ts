/**
 * The group commit with a commit worker (its own connection on a worker thread): plain groups commit
 * there, up to two in flight while the next gathers; everything else still commits on this thread, in order.
 * Real SQLite files, a real worker thread.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as tick } from 'node:timers/promises'
import { ReadingBuffer } from '../../src/store/buffer.js'
import { moveCommitsOffThread, moveSyncOffThread, openDatabase, type DB } from '../../src/store/db.js'
import { isHoldfastError } from '../../src/errors.js'
import { CommitThread } from '../../src/store/commit-thread.js'
import { append, reading, storedRows, tempBuffer } from './setup.js'

interface Threaded {
  db: DB
  buffer: ReadingBuffer
  errors: string[]
  dir: string
}

/** `full`: store.synchronous = full (no connection syncs; the WAL is fdatasynced by worker threads). */
async function threadedBuffer(dir: string, full: boolean): Promise<Threaded> {
  const db = openDatabase({ dataDir: dir, synchronous: full ? 'full' : 'normal' })
  const errors: string[] = []
  const thread = moveCommitsOffThread(db, full, m => errors.push(m))
  const walSync = full ? moveSyncOffThread(db, thread, m => errors.push(m)) : null
  await thread.ready
  return { db, buffer: new ReadingBuffer(db, 0, walSync, thread), errors, dir }
}

function setup(t: { after: (fn: () => void) => void }, full = false): Promise<Threaded> {
  const dir = mkdtempSync(join(tmpdir(), 'hf-commit-worker-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return threadedBuffer(dir, full).then(tb => {
    t.after(() => {
      if (tb.db.open) tb.buffer.close()
    })
    return tb
  })
}

for (const full of [false, true])
  test(`plain groups commit on the commit worker: consecutive seqs in append order, all in the file after a restart (synchronous ${full ? 'full' : 'normal'})`, async t => {
    const tb = await setup(t, full)
    // A device's first reading makes its id on this thread.
    assert.equal(await append(tb.buffer, reading('a', 0)), 1)
    assert.equal(await append(tb.buffer, reading('b', 0)), 2)
    const waiting: Array<Promise<number>> = []
    for (let i = 1; i <= 2000; i++) {
      waiting.push(append(tb.buffer, reading(i % 2 === 0 ? 'a' : 'b', i)))
      if (i % 100 === 0) await tick()
    }
    const seqs = await Promise.all(waiting)
    assert.deepEqual(
      seqs,
      Array.from({ length: 2000 }, (_, i) => i + 3)
    )
    const w = tb.buffer.writer.totals
    assert.ok(w.offThread > 0, 'groups went to the worker')
    assert.ok(w.offThread < w.commits || w.commits > 2, 'first readings of new devices committed here')
    assert.equal(w.committed, 2002)
    assert.equal(tb.buffer.usage.usageOf('a').readings, 1001)
    assert.equal(tb.buffer.lanes.list()[0]?.readings, 2002, 'the lane counts include the worker-committed rows')
    assert.deepEqual(tb.errors, [])
    assert.equal(tb.buffer.writer.durableSeq(), 2002, 'the forwarder may read every acknowledged reading')

    tb.buffer.close()
    const again = tempBuffer(0, tb.dir)
    t.after(() => {
      if (again.db.open) again.buffer.close()
    })
    const rows = storedRows(again.db)
    assert.equal(rows.length, 2002)
    assert.deepEqual(
      rows.map(r => r.seq),
      Array.from({ length: 2002 }, (_, i) => i + 1)
    )
    assert.equal(rows[2001]!.payload.toString(), '{"n":2000}')
    assert.equal(rows[2001]!.device, 'a')
    assert.equal(await append(again.buffer, reading('a', 1)), 2003, 'the sequence continues across a restart')
  })

test('a group the worker holds still counts in the storage projections until it is answered', async t => {
  const tb = await setup(t)
  await append(tb.buffer, reading('a', 0))
  const before = tb.buffer.usage.projectedOf('a').readings
  const waiting = Array.from({ length: 50 }, (_, i) => append(tb.buffer, reading('a', i + 1)))
  let sawInFlight = false
  for (let i = 0; i < 10; i++) {
    await tick()
    // Pending, held by the worker or committed: always counted.
    assert.equal(tb.buffer.usage.projectedOf('a').readings, before + 50)
    if (tb.buffer.writer.totals.committed === 1) sawInFlight = true
  }
  await Promise.all(waiting)
  assert.equal(tb.buffer.usage.projectedOf('a').readings, before + 50)
  assert.equal(tb.buffer.usage.usageOf('a').readings, before + 50)
  assert.ok(sawInFlight || tb.buffer.writer.totals.offThread > 0)
})

test('an eviction asked while a group is in flight runs in the next commit, with the inserts that caused it', async t => {
  const tb = await setup(t)
  for (let i = 0; i < 5; i++) await append(tb.buffer, reading('a', i))
  const inFlight = Array.from({ length: 5 }, (_, i) => append(tb.buffer, reading('a', 10 + i)))
  await tick()
  tb.buffer.evictions.evictOldest('a', 3, 0, 'quota_drop_oldest')
  const next = append(tb.buffer, reading('a', 20))
  await Promise.all([...inFlight, next])
  const payloads = storedRows(tb.db).map(r => r.payload.toString())
  assert.deepEqual(payloads, ['{"n":3}', '{"n":4}', ...[10, 11, 12, 13, 14, 20].map(n => `{"n":${n}}`)])
  assert.equal(tb.buffer.usage.usageOf('a').readings, 8)
  const fates = tb.db.prepare('SELECT seq, reason FROM fates ORDER BY seq').all()
  assert.deepEqual(fates, [
    { seq: 1, reason: 'quota_drop_oldest' },
    { seq: 2, reason: 'quota_drop_oldest' },
    { seq: 3, reason: 'quota_drop_oldest' }
  ])
})

test('close() waits for the group in flight: every reading it acknowledged is in the file', async t => {
  const tb = await setup(t)
  await append(tb.buffer, reading('a', 0))
  const acked: number[] = []
  for (let i = 1; i <= 300; i++) tb.buffer.writer.append(reading('a', i), (err, seq) => err === null && acked.push(seq))
  await tick()
  tb.buffer.close()
  assert.equal(acked.length, 300, 'every append was answered before close() returned')
  const again = tempBuffer(0, tb.dir)
  t.after(() => {
    if (again.db.open) again.buffer.close()
  })
  assert.equal(storedRows(again.db).length, 301)
})

test('close() with store.synchronous = full: the last groups sync on this thread, and nothing is reported as failed', async t => {
  const tb = await setup(t, true)
  await append(tb.buffer, reading('a', 0))
  const acked: number[] = []
  for (let i = 1; i <= 300; i++) tb.buffer.writer.append(reading('a', i), (err, seq) => err === null && acked.push(seq))
  await tick()
  // Queued behind the group in flight: committed and synced here once the worker has closed.
  tb.buffer.writer.append(reading('b', 0), (err, seq) => err === null && acked.push(seq))
  tb.buffer.close()
  assert.equal(acked.length, 301, 'every append was answered before close() returned')
  assert.deepEqual(tb.errors, [], 'a clean shutdown reports no worker failure')
  const again = tempBuffer(0, tb.dir)
  t.after(() => {
    if (again.db.open) again.buffer.close()
  })
  assert.equal(storedRows(again.db).length, 302)
})

test('the worker dies: the group it held is acknowledged only if it is in the file; later groups commit here', async t => {
  const tb = await setup(t)
  await append(tb.buffer, reading('a', 0))
  const results: Array<Promise<number>> = []
  for (let i = 1; i <= 200; i++) results.push(append(tb.buffer, reading('a', i)))
  await tick()
  // The worker thread ends abruptly (a crash of the worker, not of the process).
  const thread = (tb.buffer.writer as unknown as { p: { thread: { worker: { terminate: () => Promise<number> } } } }).p
    .thread
  await thread.worker.terminate()
  const settled = await Promise.allSettled(results)
  const stored = new Set(storedRows(tb.db).map(r => r.payload.toString()))
  settled.forEach((r, i) => {
    const payload = `{"n":${i + 1}}`
    if (r.status === 'fulfilled') assert.ok(stored.has(payload), `acknowledged ${payload} is stored`)
    else {
      assert.ok(isHoldfastError(r.reason, 'HF_ERR_STORE_COMMIT'), String(r.reason))
      assert.ok(!stored.has(payload), `refused ${payload} is not stored`)
    }
  })
  assert.equal(tb.errors.length, 1, 'the failure was reported once')
  const offThread = tb.buffer.writer.totals.offThread
  const seq = await append(tb.buffer, reading('a', 500))
  assert.equal(tb.buffer.writer.totals.offThread, offThread, 'later groups commit on this thread')
  assert.equal(storedRows(tb.db).at(-1)!.seq, seq)
})

test('MQTT 5 metadata and every field of a reading arrive in the file through the commit worker', async t => {
  const tb = await setup(t)
  await append(tb.buffer, reading('a', 0))
  const props = Buffer.from([0x01, 0x02, 0x00, 0xff])
  const seqs = await Promise.all([
    append(tb.buffer, reading('a', 1, { props, eventMs: 1_700_000_000_123, cls: 2, qos: 0, topic: 'devices/a/ünï' })),
    append(tb.buffer, reading('a', 2, { props: Buffer.alloc(0) })),
    append(tb.buffer, reading('a', 3))
  ])
  assert.ok(tb.buffer.writer.totals.offThread > 0)
  const rows = tb.db
    .prepare('SELECT seq, topic, payload, event_ms, qos, cls, kind, props FROM readings WHERE seq >= ? ORDER BY seq')
    .all(seqs[0]) as Array<Record<string, unknown>>
  assert.deepEqual(rows[0], {
    seq: seqs[0],
    topic: 'devices/a/ünï',
    payload: Buffer.from('{"n":1}'),
    event_ms: 1_700_000_000_123,
    qos: 0,
    cls: 2,
    kind: 0,
    props
  })
  assert.deepEqual(rows[1]!.props, Buffer.alloc(0))
  assert.equal(rows[2]!.props, null)
  assert.equal(rows[2]!.event_ms, null)
})

test('a group of varied readings larger than one multi-row insert keeps every field of every reading, in order', async t => {
  const tb = await setup(t)
  await append(tb.buffer, reading('a', 0))
  await append(tb.buffer, reading('b', 0))
  // 16 readings go to one statement: 45 is two full statements and 13 single rows, all in one group.
  const n = 45
  const over = (i: number): Parameters<typeof reading>[2] => ({
    topic: i % 3 === 0 ? `devices/${i % 2 === 0 ? 'a' : 'b'}/ünï-${i}` : `devices/x/${i}`,
    eventMs: i % 4 === 0 ? null : 1_700_000_000_000 + i,
    qos: i % 2,
    cls: i % 5,
    kind: i % 7 === 0 ? 1 : 0,
    props: i % 6 === 0 ? null : Buffer.from([i, 0, 255, i % 3])
  })
  const sent = Array.from({ length: n }, (_, i) => reading(i % 2 === 0 ? 'a' : 'b', i + 1, over(i)))
  const offBefore = tb.buffer.writer.totals.offThread
  const seqs = await Promise.all(sent.map(r => append(tb.buffer, r)))
  assert.equal(tb.buffer.writer.totals.offThread, offBefore + 1, 'one group, on the worker')
  assert.deepEqual(
    seqs,
    Array.from({ length: n }, (_, i) => seqs[0]! + i)
  )
  const rows = tb.db
    .prepare(
      'SELECT r.seq, d.name AS device, r.topic, r.payload, r.event_ms, r.qos, r.cls, r.kind, r.props FROM readings r JOIN devices d ON d.id = r.device WHERE r.seq >= ? ORDER BY r.seq'
    )
    .all(seqs[0]) as Array<Record<string, unknown>>
  assert.deepEqual(
    rows,
    sent.map((r, i) => ({
      seq: seqs[i],
      device: r.device,
      topic: r.topic,
      payload: r.payload,
      event_ms: r.eventMs,
      qos: r.qos,
      cls: r.cls,
      kind: r.kind,
      props: r.props
    }))
  )
  const next = tb.db.prepare("SELECT value FROM meta WHERE key = 'next_seq'").pluck().get()
  assert.equal(Number(next), seqs[n - 1]! + 1, 'the next seq is stored with the group')
})

test('a very large group (a long stall) commits through the worker, whose heap is small', async t => {
  const tb = await setup(t)
  await append(tb.buffer, reading('a', 0))
  const n = 100_000
  const seqs = await Promise.all(Array.from({ length: n }, (_, i) => append(tb.buffer, reading('a', i + 1))))
  assert.equal(seqs[n - 1], n + 1)
  assert.ok(tb.buffer.writer.totals.offThread > 0)
  assert.deepEqual(tb.errors, [], 'the worker did not fail')
  assert.equal((tb.db.prepare('SELECT count(*) AS n FROM readings').get() as { n: number }).n, n + 1)
})

test('a failed WAL sync fails its appends, breaks the buffer for good, and the forwarder may not read their rows', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-commit-worker-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const db = openDatabase({ dataDir: dir, synchronous: 'full' })
  const errors: string[] = []
  // The worker syncs a WAL file that cannot be opened: every sync after its commits fails.
  const thread = new CommitThread(db.name, 'OFF', { wal: join(dir, 'missing', 'x-wal'), dir }, 1000, 1 << 20, m =>
    errors.push(m)
  )
  const walSync = moveSyncOffThread(db, thread, m => errors.push(m))
  await thread.ready
  const buffer = new ReadingBuffer(db, 0, walSync, thread)
  t.after(() => {
    if (db.open) buffer.close()
  })
  const broken: string[] = []
  buffer.writer.onBroken(e => broken.push(e.code))
  // A device's first reading commits on this thread and syncs the real WAL (through the same worker: it fails too).
  const first = append(buffer, reading('a', 0))
  // Appended while that group syncs: committed after it, never acknowledged.
  await tick()
  const queued = append(buffer, reading('b', 0))
  await assert.rejects(first, (e: unknown) => isHoldfastError(e, 'HF_ERR_STORE_SYNC'))
  await assert.rejects(queued, (e: unknown) => isHoldfastError(e, 'HF_ERR_STORE_SYNC'))
  assert.deepEqual(broken, ['HF_ERR_STORE_SYNC'], 'told once')
  assert.equal(buffer.writer.lastCommitOk(), false, '/readyz reports the buffer')
  const stored = storedRows(db).length
  const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => append(buffer, reading('a', i + 1))))
  assert.ok(results.every(r => r.status === 'rejected' && isHoldfastError(r.reason, 'HF_ERR_STORE_SYNC')))
  assert.equal(storedRows(db).length, stored, 'nothing is committed after the failed sync')
  assert.deepEqual(broken, ['HF_ERR_STORE_SYNC'])
  assert.equal(buffer.writer.durableSeq(), 0, 'no row past a failed sync is offered to the forwarder')
  assert.deepEqual(buffer.lanes.readLane(0, 0, 0, Number.MAX_SAFE_INTEGER, 100), [])
})

/**
 * The reading {"n":-1} fails its insert, slowly (a second of counting first), so the next group is
 * handed over while the worker still holds the failing one. DROP TRIGGER poison ends it.
 */
function poisonFirstGroup(db: DB): void {
  db.exec(`CREATE TRIGGER poison BEFORE INSERT ON readings WHEN NEW.payload = CAST('{"n":-1}' AS BLOB) BEGIN
    SELECT RAISE(ABORT, 'injected failure') FROM
      (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) FROM c);
  END`)
}

test('a group handed over while the one ahead of it fails is refused too: the seqs of what is stored have no hole', async t => {
  const tb = await setup(t, true)
  assert.equal(await append(tb.buffer, reading('a', 0)), 1)
  poisonFirstGroup(tb.db)
  const first = [append(tb.buffer, reading('a', -1))]
  for (let i = 1; i < 300; i++) first.push(append(tb.buffer, reading('a', i)))
  await tick()
  const second: Array<Promise<number>> = []
  for (let i = 300; i < 600; i++) second.push(append(tb.buffer, reading('a', i)))
  const [a, b] = await Promise.all([Promise.allSettled(first), Promise.allSettled(second)])
  for (const r of a) assert.ok(r.status === 'rejected' && /injected failure/.test(String(r.reason)), String(r))
  for (const r of b)
    assert.ok(r.status === 'rejected' && /the group ahead of it failed to commit/.test(String(r.reason)), String(r))
  tb.db.exec('DROP TRIGGER poison')
  const after = await Promise.all(Array.from({ length: 300 }, (_, i) => append(tb.buffer, reading('a', 1000 + i))))
  assert.deepEqual(
    after,
    Array.from({ length: 300 }, (_, i) => i + 2),
    'the seqs go on from the last one stored'
  )
  assert.deepEqual(
    storedRows(tb.db).map(r => r.seq),
    Array.from({ length: 301 }, (_, i) => i + 1)
  )
  assert.equal(tb.buffer.usage.projectedOf('a').readings, 301, 'the refused groups no longer count')
  assert.deepEqual(tb.errors, [])
})

test('a large group gathered as soon as a failure is seen commits once the failed and refused groups are answered: its seqs follow the last one stored', async t => {
  const tb = await setup(t, true)
  assert.equal(await append(tb.buffer, reading('a', 0)), 1)
  poisonFirstGroup(tb.db)
  let third: Array<Promise<number>> = []
  const first = [
    append(tb.buffer, reading('a', -1)).catch(err => {
      // Appended as soon as the failure is seen: a group large enough to go while another is in flight.
      tb.db.exec('DROP TRIGGER poison')
      third = Array.from({ length: 300 }, (_, i) => append(tb.buffer, reading('a', 1000 + i)))
      throw err
    })
  ]
  for (let i = 1; i < 300; i++) first.push(append(tb.buffer, reading('a', i)))
  await tick()
  const second = Array.from({ length: 300 }, (_, i) => append(tb.buffer, reading('a', 300 + i)))
  await Promise.allSettled([...first, ...second])
  assert.deepEqual(
    await Promise.all(third),
    Array.from({ length: 300 }, (_, i) => i + 2)
  )
  assert.deepEqual(
    storedRows(tb.db).map(r => r.seq),
    Array.from({ length: 301 }, (_, i) => i + 1)
  )
})
