/**
 * The buffer's account of its sequence numbers (README "Control records"): every seq that will never
 * reach Kafka gets a fate row (device, reason) in the same transaction that removed it; releases and
 * fates add to per-device lifetime totals there too, so they survive restarts exactly. The forwarder
 * turns this into ledger control records and forgets fates once Kafka has the record.
 * Counts that change outside a commit (received, duplicates, refusals) are flushed with `flushCounts`.
 * The totals table is mirrored in memory (read once, then changed exactly as commits change it), so
 * the status document reads it without SQL on every build. A transaction that changes many devices'
 * totals writes them as one pending row, folded into the table later (totals-pending.ts).
 */
import type { Statement } from 'better-sqlite3'
import type { DB } from './db.js'
import { PENDING_FROM_DEVICES, PendingTotals } from './totals-pending.js'
import { TotalsDeltas as Deltas } from './totals-deltas.js'

/** Fate reasons the buffer writes today (an eviction passes its own reason through). */
export const FATES = ['quota_drop_oldest', 'disk_drop_oldest', 'compacted', 'rollup_only'] as const

export interface FateRow {
  seq: number
  device: number
  reason: string
}

export class SeqLedger {
  private readonly insertFate: Statement
  private readonly addTotal: Statement
  private readonly selectFates: Statement
  private readonly deleteFates: Statement
  private readonly selectTotals: Statement
  private readonly selectGaps: Statement
  private readonly insertGap: Statement
  private readonly deleteGaps: Statement
  private readonly minSeq: Statement
  /** Totals changed inside the open transaction, per device then name. */
  private readonly tx = new Deltas()
  /** Totals written by the open transaction: they join the mirror once it commits (`committed`). */
  private readonly written = new Deltas()
  /** The committed totals table, device → name → value; null until first read. */
  private mirror: Map<string, Map<string, number>> | null = null
  /** A rollback, or a write whose fate is unknown, happened: the mirror is read again from the table. */
  private stale = false
  /** Totals of transactions that touched many devices, not yet in the table. */
  private readonly pending: PendingTotals

  constructor(private readonly db: DB) {
    db.exec(`CREATE TABLE IF NOT EXISTS fates (seq INTEGER PRIMARY KEY, device INTEGER NOT NULL, reason TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS totals (device TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
        PRIMARY KEY (device, name)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS seq_gaps (first INTEGER PRIMARY KEY, last INTEGER NOT NULL, reason TEXT NOT NULL);`)
    this.insertFate = db.prepare('INSERT OR REPLACE INTO fates (seq, device, reason) VALUES (?, ?, ?)')
    this.addTotal = db.prepare(
      'INSERT INTO totals (device, name, value) VALUES (?, ?, ?) ON CONFLICT(device, name) DO UPDATE SET value = value + excluded.value'
    )
    this.selectFates = db
      .prepare('SELECT seq, device, reason FROM fates WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?')
      .raw()
    this.deleteFates = db.prepare('DELETE FROM fates WHERE seq <= ?')
    this.pending = new PendingTotals(db, this.addTotal)
    this.selectTotals = db.prepare(PendingTotals.SELECT_ALL).raw()
    this.selectGaps = db.prepare('SELECT first, last, reason FROM seq_gaps WHERE first <= ? ORDER BY first').raw()
    this.insertGap = db.prepare('INSERT OR REPLACE INTO seq_gaps (first, last, reason) VALUES (?, ?, ?)')
    this.deleteGaps = db.prepare('DELETE FROM seq_gaps WHERE last <= ?')
    this.minSeq = db.prepare('SELECT min(seq) FROM readings').pluck()
  }

  /** Inside a transaction: this seq will never be forwarded. */
  fate(seq: number, deviceId: number, device: string, reason: string): void {
    this.insertFate.run(seq, deviceId, reason)
    this.add(device, `dropped:${reason}`, 1)
  }

  /** Inside a transaction: add to a lifetime total (written when the transaction's work is flushed). */
  add(device: string, name: string, n: number): void {
    this.tx.add(device, name, n)
  }

  /** Inside the transaction, before it commits: write the totals it changed. */
  writeTotals(): void {
    if (this.tx.empty()) return
    if (this.tx.size >= PENDING_FROM_DEVICES) {
      this.pending.write(this.tx)
      this.tx.forEach((device, name, n) => this.written.add(device, name, n))
    } else
      this.tx.forEach((device, name, n) => {
        this.addTotal.run(device, name, n)
        this.written.add(device, name, n)
      })
    this.tx.reset()
  }

  /** The transaction rolled back: forget what it added (and read the table again, which has what committed). */
  discard(): void {
    this.tx.reset()
    this.written.reset()
    this.pending.discard()
    this.stale = true
  }

  /** The transaction that wrote totals committed: the mirror takes them (inside an outer one: when that commits). */
  committed(): void {
    if (this.db.inTransaction || this.written.empty()) return
    const mirror = this.mirror
    if (mirror !== null && !this.stale)
      this.written.forEach((device, name, n) => {
        let t = mirror.get(device)
        if (t === undefined) mirror.set(device, (t = new Map()))
        t.set(name, (t.get(name) ?? 0) + n)
      })
    this.written.reset()
    if (this.pending.committed()) this.fold()
  }

  /** Outside any transaction: the pending rows join the table. A failure (disk full) leaves them for the next try. */
  fold(): void {
    try {
      if (!this.pending.fold()) this.stale = true
    } catch {
      // Nothing changed: the rows and their sums wait for the next fold.
    }
  }

  /** Outside any transaction: add counts that changed outside commits (received, refusals) in one write. */
  flushCounts(deltas: ReadonlyMap<string, ReadonlyMap<string, number>>): void {
    try {
      this.db.transaction(() => {
        for (const [device, m] of deltas)
          for (const [name, n] of m)
            if (n !== 0) {
              this.addTotal.run(device, name, n)
              this.written.add(device, name, n)
            }
      })()
    } catch (err) {
      this.discard()
      throw err
    }
    this.committed()
    this.fold()
  }

  /** Every seq up to this one is settled: forwarded, fated, or never assigned. */
  settledThrough(lastSeq: number): number {
    const min = this.minSeq.get() as number | null
    return min === null ? lastSeq : min - 1
  }

  /** Fates with from < seq <= through, oldest first, at most `limit`. */
  fates(from: number, through: number, limit: number): FateRow[] {
    return (this.selectFates.all(from, through, limit) as Array<[number, number, string]>).map(
      ([seq, device, reason]) => ({ seq, device, reason })
    )
  }

  /** Seq ranges that never held a reading (recovery), starting at or before `through`. */
  gaps(through: number): Array<{ first: number; last: number; reason: string }> {
    return (this.selectGaps.all(through) as Array<[number, number, string]>).map(([first, last, reason]) => ({
      first,
      last,
      reason
    }))
  }

  addGap(first: number, last: number, reason: string): void {
    if (last >= first) this.insertGap.run(first, last, reason)
  }

  /** Kafka has the ledger record through `through`: forget what it covered, remember where the next starts. */
  settled(through: number): void {
    this.db.transaction(() => {
      this.deleteFates.run(through)
      this.deleteGaps.run(through)
      this.db
        .prepare(
          "INSERT INTO meta (key, value) VALUES ('ledger_through', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        )
        .run(through)
    })()
  }

  ledgerThrough(): number {
    return (this.db.prepare("SELECT value FROM meta WHERE key = 'ledger_through'").pluck().get() as number) ?? 0
  }

  /**
   * Lifetime totals as committed: device → name → value. The live mirror, not a copy: read, never change.
   * Every transaction that writes totals ends in `committed` or `discard` (a commit that throws after
   * writeTotals too); should one end in neither, the table is read again here.
   */
  totals(): ReadonlyMap<string, ReadonlyMap<string, number>> {
    if (this.mirror === null || (!this.db.inTransaction && (this.stale || !this.written.empty()))) {
      const m = new Map<string, Map<string, number>>()
      for (const [device, name, value] of this.selectTotals.all() as Array<[string, string, number]>) {
        let t = m.get(device)
        if (t === undefined) m.set(device, (t = new Map()))
        t.set(name, value)
      }
      this.mirror = m
      this.written.reset()
      // Read inside a transaction, it holds that transaction's writes: read again once it is over.
      this.stale = this.db.inTransaction
    }
    return this.mirror
  }
}
