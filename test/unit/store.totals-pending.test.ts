import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { DB } from '../../src/store/db.js'
import type { SeqLedger } from '../../src/store/ledger.js'
import { FOLD_AT_ROWS, PENDING_FROM_DEVICES } from '../../src/store/totals-pending.js'
import { tempBuffer } from './setup.js'

type Totals = Record<string, Record<string, number>>

/** The totals as the file holds them: the table plus the rows not yet folded into it. */
const onDisk = (db: DB): Totals => {
  const out: Totals = {}
  const add = (device: string, name: string, n: number): void => {
    const t = (out[device] ??= {})
    t[name] = (t[name] ?? 0) + n
  }
  for (const r of db.prepare('SELECT device, name, value FROM totals').all() as Array<{
    device: string
    name: string
    value: number
  }>)
    add(r.device, r.name, r.value)
  for (const { deltas } of db.prepare('SELECT deltas FROM totals_pending').all() as Array<{ deltas: string }>)
    for (const [device, name, n] of JSON.parse(deltas) as Array<[string, string, number]>) add(device, name, n)
  return out
}
const mirror = (m: ReadonlyMap<string, ReadonlyMap<string, number>>): Totals =>
  Object.fromEntries([...m].map(([d, t]) => [d, Object.fromEntries(t)]))
const pendingRows = (db: DB): number => db.prepare('SELECT count(*) FROM totals_pending').pluck().get() as number

/** A release-like transaction's totals: `devices` devices, n each. */
const wide = (l: SeqLedger, devices: number, n: number, name = 'released'): void => {
  for (let i = 0; i < devices; i++) l.add(`dev-"${i}"`, name, n)
  l.writeTotals()
}

test('totals of a transaction touching many devices: one pending row, exact in memory, folded into the table, and after a kill the rows left are folded at start', t => {
  const tb = tempBuffer()
  t.after(tb.dispose)
  const { db } = tb
  const l = tb.buffer.seqLedger
  const devices = PENDING_FROM_DEVICES + 8

  db.transaction(() => wide(l, devices, 2))()
  l.committed()
  assert.equal(pendingRows(db), 1, 'one row for the whole transaction')
  assert.equal(db.prepare('SELECT count(*) FROM totals').pluck().get(), 0, 'no upserts')
  assert.equal(l.totals().get('dev-"3"')?.get('released'), 2, 'the mirror has it at once')
  assert.deepEqual(mirror(l.totals()), onDisk(db))

  // A narrow transaction still upserts.
  db.transaction(() => wide(l, 2, 5, 'dropped:quota_drop_oldest'))()
  l.committed()
  assert.equal(pendingRows(db), 1)

  // Rolled back: its row is gone and nothing counts.
  assert.throws(() =>
    db.transaction(() => {
      wide(l, devices, 100)
      throw new Error('rolled back')
    })()
  )
  l.discard()
  assert.deepEqual(mirror(l.totals()), onDisk(db), 'a rollback leaves nothing behind')
  assert.equal(l.totals().get('dev-"3"')?.get('released'), 2)

  // A commit that throws after writing, and nobody says discard: the mirror is read again, and the fold
  // finds that the rows on disk are not those it summed.
  assert.throws(() =>
    db.transaction(() => {
      wide(l, devices, 1000)
      throw new Error('commit failed')
    })()
  )
  assert.deepEqual(mirror(l.totals()), onDisk(db), 'totals of an unknown fate: read again')
  db.transaction(() => wide(l, devices, 3))()
  l.committed()
  l.fold()
  assert.equal(pendingRows(db), 0, 'folded')
  assert.deepEqual(mirror(l.totals()), onDisk(db), 'the fold changed nothing but where the counts are')
  assert.equal(l.totals().get('dev-"3"')?.get('released'), 5)
  assert.equal(l.totals().get('dev-"1"')?.get('dropped:quota_drop_oldest'), 5)

  // Many rows: folded from the sums in memory once enough wait.
  for (let i = 0; i < FOLD_AT_ROWS + 44; i++) {
    db.transaction(() => wide(l, devices, 1))()
    l.committed()
  }
  assert.equal(pendingRows(db), 44, 'folded on the way')
  assert.equal(l.totals().get('dev-"0"')?.get('released'), FOLD_AT_ROWS + 49)
  assert.deepEqual(mirror(l.totals()), onDisk(db))

  // Killed with rows pending (the database closes without a fold): the next start folds them first.
  db.transaction(() => wide(l, devices, 7))()
  l.committed()
  const before = onDisk(db)
  assert.ok(pendingRows(db) > 0)
  const again = tb.reopen()
  t.after(again.dispose)
  assert.equal(pendingRows(again.db), 0, 'folded at start')
  assert.deepEqual(onDisk(again.db), before, 'nothing lost or counted twice')
  assert.deepEqual(mirror(again.buffer.seqLedger.totals()), before)
  assert.equal(again.buffer.seqLedger.totals().get('dev-"0"')?.get('released'), FOLD_AT_ROWS + 56)
})
