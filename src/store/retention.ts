/**
 * Raw readings kept on the box after forwarding (store.retainMs), and raw readings of rollup-only
 * topics that are kept instead of forwarded: the `kept` table. The disk budget trims it first.
 */
import type { Statement } from 'better-sqlite3'
import type { DB } from './db.js'
import { KIND_RAW, PROPS_BYTES_SQL, ROW_OVERHEAD_BYTES, type NewReading, type Usage } from './reading.js'
import { LANE } from './rows.js'
import type { UsageLedger } from './usage.js'

const HEAD_ROWS = 1024

export class Retention {
  private retainMs = 0
  /** Bytes asked to be trimmed in the next group commit. */
  private queuedTrim = 0
  private readonly insertLocal: Statement
  private readonly keepRunBulk: Statement
  private readonly keepRunLane: Statement
  private readonly selectHead: Statement
  private readonly deleteTo: Statement

  constructor(
    db: DB,
    private readonly ledger: UsageLedger,
    private readonly requestCommit: () => void
  ) {
    this.insertLocal = db.prepare(
      'INSERT INTO kept (seq, device, topic, payload, recv_ms, event_ms, qos, until_ms, props) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'
    )
    const keep =
      'INSERT INTO kept (seq, device, topic, payload, recv_ms, event_ms, qos, until_ms, fwd_ms, props) SELECT seq, device, topic, payload, recv_ms, event_ms, qos, ?, ?, props FROM readings'
    this.keepRunBulk = db.prepare(`${keep} WHERE seq BETWEEN ? AND ? AND cls = 0 AND kind = 0`)
    this.keepRunLane = db.prepare(`${keep} WHERE ${LANE} AND cls = ? AND kind = ? AND seq BETWEEN ? AND ?`)
    this.selectHead = db
      .prepare(
        `SELECT id, until_ms, length(payload) + length(topic) + ${PROPS_BYTES_SQL} FROM kept ORDER BY id LIMIT ?`
      )
      .raw()
    this.deleteTo = db.prepare('DELETE FROM kept WHERE id <= ?')
  }

  /** Keep forwarded raw readings this long (0 = delete them once Kafka has them). */
  setRetention(ms: number): void {
    this.retainMs = ms
  }

  /** Whether released readings of this kind move to `kept`. */
  keeps(kind: number): boolean {
    return this.retainMs > 0 && kind === KIND_RAW
  }

  /** Inside a release's transaction: copy a lane's run to `kept` before it is deleted. */
  keepRun(cls: number, kind: number, first: number, last: number, now: number): void {
    if (cls === 0 && kind === KIND_RAW) this.keepRunBulk.run(now + this.retainMs, now, first, last)
    else this.keepRunLane.run(now + this.retainMs, now, cls, kind, first, last)
  }

  /** Inside the group commit: a reading stored in `kept` only (KIND_LOCAL). */
  insert(seq: number, deviceId: number, r: NewReading, recvMs: number): void {
    this.insertLocal.run(
      seq,
      deviceId,
      r.topic,
      r.payload,
      recvMs,
      r.eventMs,
      r.qos,
      recvMs + (r.keepMs ?? 0),
      r.props ?? null
    )
  }

  keptTotal(): Readonly<Usage> {
    return this.ledger.kept
  }

  /**
   * Delete the oldest kept readings worth at least `bytes` in the next group commit (the disk budget
   * takes retained readings first). Returns the bytes that will go.
   */
  trimKept(bytes: number): number {
    const available = this.ledger.kept.bytes - this.queuedTrim
    const b = Math.min(bytes, Math.max(0, available))
    if (b <= 0) return 0
    this.queuedTrim += b
    this.ledger.addPending(null, 0, -b)
    this.requestCommit()
    return b
  }

  /** Bytes of kept readings waiting to be trimmed in the next group commit. */
  trimQueued(): number {
    return this.queuedTrim
  }

  /** The group commit takes the queued trim. */
  takeTrim(): number {
    const b = this.queuedTrim
    this.queuedTrim = 0
    return b
  }

  /** Inside the group commit: delete the oldest kept readings worth at least `bytes`; what it deleted. */
  trimNow(bytes: number): Usage {
    const done: Usage = { readings: 0, bytes: 0 }
    while (done.bytes < bytes) {
      const head = this.selectHead.all(HEAD_ROWS) as Array<[number, number, number]>
      if (head.length === 0) break
      let lastId = -1
      for (const [id, , b] of head) {
        lastId = id
        done.readings++
        done.bytes += b + ROW_OVERHEAD_BYTES
        if (done.bytes >= bytes) break
      }
      this.deleteTo.run(lastId)
    }
    return done
  }

  /** Delete kept readings whose time is up, oldest first (in the order they were kept). */
  sweepKept(now: number): number {
    let removed = 0
    for (;;) {
      const head = this.selectHead.all(HEAD_ROWS) as Array<[number, number, number]>
      let lastId = -1
      let bytes = 0
      let n = 0
      for (const [id, until, b] of head) {
        if (until > now) break
        lastId = id
        bytes += b + ROW_OVERHEAD_BYTES
        n++
      }
      if (lastId === -1) return removed
      this.deleteTo.run(lastId)
      this.ledger.keep(-n, -bytes)
      removed += n
      if (n < head.length || head.length < HEAD_ROWS) return removed
    }
  }
}
