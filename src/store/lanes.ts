/** The forwarder's side of the buffer: read a lane's readings in seq order, release what Kafka has. */
import type { Statement } from 'better-sqlite3'
import type { DB } from './db.js'
import type { SeqLedger } from './ledger.js'
import type { DeviceIds } from './devices.js'
import type { LaneCounts } from './lane-counts.js'
import { KIND_RAW, KIND_ROLLUP, rowBytes, type Lane, type StoredReading } from './reading.js'
import type { ResendRecord } from './resend-record.js'
import type { Retention } from './retention.js'
import { COLS, LANE, type RawRow, type ToReading } from './rows.js'
import type { UsageLedger } from './usage.js'

export class LaneReader {
  /** Lifetime totals (ledger.ts): releases are counted in their own transaction. */
  fates: SeqLedger | null = null
  /** Readings released since start. */
  released = 0
  private readonly selectBulk: Statement
  private readonly selectLane: Statement
  private readonly selectNewestBulk: Statement
  private readonly deleteRunBulk: Statement
  private readonly deleteRunLane: Statement

  constructor(
    private readonly db: DB,
    private readonly toReading: ToReading,
    private readonly counts: LaneCounts,
    private readonly retention: Retention,
    private readonly ledger: UsageLedger,
    private readonly devices: DeviceIds,
    /** What left the buffer, kept to recognise re-sends after a restart (resend-record.ts). */
    private readonly resends: ResendRecord,
    /** The newest synced seq: nothing past it is read (it could still vanish in a power cut). */
    private readonly durableSeq: () => number
  ) {
    this.selectBulk = db
      .prepare(`SELECT ${COLS} FROM readings WHERE seq > ? AND seq < ? AND cls = 0 AND kind = 0 ORDER BY seq LIMIT ?`)
      .raw()
    this.selectLane = db
      .prepare(
        `SELECT ${COLS} FROM readings WHERE ${LANE} AND cls = ? AND kind = ? AND seq > ? AND seq < ? ORDER BY seq LIMIT ?`
      )
      .raw()
    this.selectNewestBulk = db
      .prepare(
        `SELECT ${COLS} FROM readings WHERE seq > ? AND seq <= ? AND cls = 0 AND kind = 0 ORDER BY seq DESC LIMIT ?`
      )
      .raw()
    this.deleteRunBulk = db
      .prepare('DELETE FROM readings WHERE seq BETWEEN ? AND ? AND cls = 0 AND kind = 0 RETURNING seq')
      .pluck()
    this.deleteRunLane = db
      .prepare(`DELETE FROM readings WHERE ${LANE} AND cls = ? AND kind = ? AND seq BETWEEN ? AND ? RETURNING seq`)
      .pluck()
  }

  /** Lanes holding readings: highest priority first, rollups before raw within a priority. */
  list(): Lane[] {
    return this.counts.list()
  }

  /** One lane's readings with afterSeq < seq < beforeSeq, oldest first. */
  readLane(cls: number, kind: number, afterSeq: number, beforeSeq: number, limit: number): StoredReading[] {
    beforeSeq = Math.min(beforeSeq, this.durableSeq() + 1)
    const rows =
      cls === 0 && kind === KIND_RAW
        ? this.selectBulk.all(afterSeq, beforeSeq, limit)
        : this.selectLane.all(cls, kind, afterSeq, beforeSeq, limit)
    return (rows as RawRow[]).map(this.toReading)
  }

  /** The newest bulk raw readings (priority 0) with seq > afterSeq, returned oldest-first: the live lane. */
  readNewestBulk(afterSeq: number, limit: number): StoredReading[] {
    return (this.selectNewestBulk.all(afterSeq, this.durableSeq(), limit) as RawRow[]).reverse().map(this.toReading)
  }

  /**
   * Release a run read in one go: `readings` must be every reading of one lane with seq from the
   * first's to the last's (what readLane and readNewestBulk return). One ranged DELETE instead of
   * one per row; RETURNING tells which rows were still there, so evicted ones count once.
   */
  releaseRun(readings: readonly StoredReading[]): void {
    if (readings.length === 0) return
    const first = readings[0]!.seq
    const last = readings[readings.length - 1]!.seq
    // Every row of a run belongs to one lane; other lanes' rows in the range stay.
    const cls = readings[0]!.cls ?? 0
    const kind = readings[0]!.kind ?? KIND_RAW
    const bulk = cls === 0 && kind === KIND_RAW
    const keep = this.retention.keeps(kind)
    const now = Date.now()
    const deleted = this.db.transaction(() => {
      // Retention: forwarded raw readings move to `kept` (same transaction), where the disk budget takes them first.
      if (keep) this.retention.keepRun(cls, kind, first, last, now)
      this.resends.record(readings, this.devices.find, this.devices.size)
      const seqs = (
        bulk ? this.deleteRunBulk.all(first, last) : this.deleteRunLane.all(cls, kind, first, last)
      ) as number[]
      this.releasedTotals(readings, kind, seqs.length === readings.length ? null : new Set(seqs))
      return seqs
    })()
    const present = deleted.length === readings.length ? null : new Set(deleted)
    for (const r of readings) {
      if (present !== null && !present.has(r.seq)) continue
      const b = rowBytes(r.topic, r.payload, r.props)
      this.ledger.account(r.device, -1, -b, cls)
      if (keep) this.ledger.keep(1, b)
    }
    this.counts.add(cls, kind, -deleted.length)
    this.released += readings.length
  }

  /** Inside a release transaction: lifetime released totals per device (readings and rollups apart). */
  private releasedTotals(readings: readonly StoredReading[], kind: number, present: ReadonlySet<number> | null): void {
    const f = this.fates
    if (f === null) return
    const name = kind === KIND_ROLLUP ? 'released_rollups' : 'released'
    try {
      for (const r of readings) if (present === null || present.has(r.seq)) f.add(r.device, name, 1)
      f.writeTotals()
    } catch (err) {
      f.discard()
      throw err
    }
  }
}
