/**
 * Lifetime totals that a transaction changed for many devices at once (a drained release touches most
 * of the fleet: 640 devices in 1,024 readings from 1,000) go in as one row, `totals_pending`, instead of
 * an upsert per device; the totals table takes them later (`fold`), hundreds of rows at once, from sums
 * kept in memory. Table plus pending rows is the count at every commit, so a kill -9 loses nothing: the
 * rows left are folded at the next start. Knows SQL, nothing of devices or Kafka.
 */
import type { Statement } from 'better-sqlite3'
import type { DB } from './db.js'
import { TotalsDeltas } from './totals-deltas.js'

/** A transaction touching at least this many devices writes one pending row instead of upserts. */
export const PENDING_FROM_DEVICES = 32
/**
 * Fold once this many rows wait. A fold costs an upsert per device and name whatever the rows (4-9 ms
 * with 1,000 devices), so it runs every 3-4 s in a drain at 300,000 readings/s; a start after a kill
 * folds at most this many rows in SQL (about 0.4 s).
 */
export const FOLD_AT_ROWS = 1024

export class PendingTotals {
  private readonly insert: Statement
  private readonly count: Statement
  private readonly deleteIds: Statement
  /** Pending rows written by the open transaction: their ids and their sums by device and name. */
  private openIds: number[] = []
  private readonly open = new TotalsDeltas()
  /** Committed pending rows not yet folded, and their sums. */
  private ids: number[] = []
  private readonly sums = new TotalsDeltas()
  /** Names of totals as JSON strings (a handful: released, dropped:<reason>, ...). */
  private readonly quotedNames = new Map<string, string>()

  constructor(
    private readonly db: DB,
    /** Add n to a device's total (the ledger's upsert). */
    private readonly addTotal: Statement
  ) {
    db.exec('CREATE TABLE IF NOT EXISTS totals_pending (id INTEGER PRIMARY KEY, deltas TEXT NOT NULL)')
    this.insert = db.prepare('INSERT INTO totals_pending (deltas) VALUES (?)')
    this.count = db.prepare('SELECT count(*) FROM totals_pending').pluck()
    this.deleteIds = db.prepare('DELETE FROM totals_pending WHERE id IN (SELECT value FROM json_each(?))')
    // Rows a stop or a crash left: folded before anyone reads the table.
    if ((this.count.get() as number) > 0) this.db.transaction(() => this.foldInSql())()
  }

  /** SQL that reads every device's totals, pending rows included: columns device, name, value. */
  static readonly SELECT_ALL = `SELECT device, name, sum(value) FROM (SELECT device, name, value FROM totals UNION ALL
    SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2 FROM totals_pending, json_each(totals_pending.deltas) AS j)
    GROUP BY device, name`

  /** Inside a transaction: write these changes as one row. */
  write(changes: TotalsDeltas): void {
    let json = ''
    changes.forEach((device, name, n, quoted) => {
      let qName = this.quotedNames.get(name)
      if (qName === undefined) this.quotedNames.set(name, (qName = JSON.stringify(name)))
      json += `${json === '' ? '[' : ','}[${quoted},${qName},${n}]`
      this.open.add(device, name, n)
    })
    if (json === '') return
    this.openIds.push(Number(this.insert.run(`${json}]`).lastInsertRowid))
  }

  /** The transaction that wrote rows committed (outside any transaction). True when enough wait to fold. */
  committed(): boolean {
    if (this.openIds.length === 0) return false
    for (const id of this.openIds) this.ids.push(id)
    this.open.forEach((device, name, n) => this.sums.add(device, name, n))
    this.discard()
    return this.ids.length >= FOLD_AT_ROWS
  }

  /** The transaction rolled back: its rows are gone. */
  discard(): void {
    this.openIds = []
    this.open.reset()
  }

  /**
   * Outside any transaction: move the pending rows into the totals table. From the sums in memory when
   * the rows on disk are exactly those summed; otherwise (a commit whose fate was unknown) in SQL from
   * the rows themselves. Returns false when the memory sums were wrong, so a mirror of the totals must be
   * read again. A fold that throws changed nothing: the next one does it all.
   */
  fold(): boolean {
    if (this.ids.length === 0 && this.openIds.length === 0) return true
    const ids = this.ids
    const sums = this.sums
    let exact = true
    this.db.transaction(() => {
      const onDisk = this.count.get() as number
      if (onDisk === ids.length && this.deleteIds.run(JSON.stringify(ids)).changes === ids.length) {
        sums.forEach((device, name, n) => this.addTotal.run(device, name, n))
        return
      }
      exact = false
      this.foldInSql()
    })()
    this.ids = []
    sums.reset()
    // Rows of a transaction whose fate was unknown are folded by now, whatever it was.
    this.discard()
    return exact
  }

  private foldInSql(): void {
    this.db
      .prepare(
        `INSERT INTO totals (device, name, value)
          SELECT j.value ->> 0, j.value ->> 1, sum(j.value ->> 2) FROM totals_pending, json_each(totals_pending.deltas) AS j
          WHERE true GROUP BY 1, 2
          ON CONFLICT(device, name) DO UPDATE SET value = value + excluded.value`
      )
      .run()
    this.db.exec('DELETE FROM totals_pending')
  }
}
