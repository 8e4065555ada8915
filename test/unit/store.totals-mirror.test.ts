import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { DB } from '../../src/store/db.js'
import { append, reading, tempBuffer } from './setup.js'

/** The totals table as read from the file. */
const table = (db: DB): Record<string, Record<string, number>> => {
  const out: Record<string, Record<string, number>> = {}
  for (const r of db.prepare('SELECT device, name, value FROM totals').all() as Array<{
    device: string
    name: string
    value: number
  }>)
    (out[r.device] ??= {})[r.name] = r.value
  return out
}
const mirror = (m: ReadonlyMap<string, ReadonlyMap<string, number>>): Record<string, Record<string, number>> =>
  Object.fromEntries([...m].map(([d, t]) => [d, Object.fromEntries(t)]))

test('lifetime totals in memory follow the table exactly: commits, rollbacks, a commit that fails after writing, nesting', async t => {
  const tb = tempBuffer()
  t.after(tb.dispose)
  const { db } = tb
  const l = tb.buffer.seqLedger
  for (let i = 0; i < 20; i++) await append(tb.buffer, reading(`d${i % 3}`, i))
  l.flushCounts(
    new Map([
      ['d0', new Map([['received', 7]])],
      ['d9', new Map([['dropped:acl_denied', 2]])]
    ])
  )
  assert.deepEqual(mirror(l.totals()), table(db), 'loaded, then flushed counts')
  l.flushCounts(new Map([['d0', new Map([['received', 3]])]]))
  assert.equal(l.totals().get('d0')?.get('received'), 10, 'a flush joins the mirror')

  const write = (device: string, n: number): void => {
    l.add(device, 'released', n)
    l.writeTotals()
  }
  db.transaction(() => write('d1', 4))()
  l.committed()
  assert.equal(l.totals().get('d1')?.get('released'), 4, 'a committed transaction joins the mirror')

  assert.throws(() =>
    db.transaction(() => {
      write('d1', 100)
      throw new Error('rolled back')
    })()
  )
  l.discard()
  assert.deepEqual(mirror(l.totals()), table(db), 'a rollback leaves nothing behind')

  // A commit that throws after the totals were written, and nobody says discard.
  assert.throws(() =>
    db.transaction(() => {
      write('d2', 50)
      throw new Error('commit failed')
    })()
  )
  assert.deepEqual(mirror(l.totals()), table(db), 'totals of an unknown fate: the table is read again')
  assert.equal(l.totals().get('d2')?.get('released'), undefined)
  db.transaction(() => write('d2', 1))()
  l.committed()
  assert.equal(l.totals().get('d2')?.get('released'), 1, 'and the next commit adds only its own')

  // A savepoint rolled back inside a transaction that commits.
  db.transaction(() => {
    write('d1', 2)
    try {
      db.transaction(() => {
        write('d1', 30)
        throw new Error('inner')
      })()
    } catch {
      l.discard()
    }
    write('d1', 1)
  })()
  l.committed()
  assert.deepEqual(mirror(l.totals()), table(db), 'only what committed counts')
  assert.equal(l.totals().get('d1')?.get('released'), 7)

  const again = tb.reopen()
  t.after(again.dispose)
  assert.deepEqual(mirror(again.buffer.seqLedger.totals()), table(again.db), 'after a restart: read from the table')
})
