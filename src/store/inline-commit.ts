/**
 * A group committed on the broker thread's own connection, the groups the commit worker cannot take
 * (group-commit.ts decides): its inserts, the aggregator's work (commit-hook.ts), evictions and trims of
 * kept readings, in one transaction; then what it changed, in the buffer's accounting. A transaction that
 * fails changes nothing there.
 */
import type { Statement } from 'better-sqlite3'
import type { CommitHook } from './commit-hook.js'
import type { DB } from './db.js'
import { classesLowestFirst } from './evict-order.js'
import type { Eviction, EvictionDone } from './evictions.js'
import type { WriterParts } from './group-commit.js'
import type { SeqLedger } from './ledger.js'
import { KIND_LOCAL, KIND_RAW, type NewReading, rowBytes, type StoredReading, type Usage } from './reading.js'
import { COLS, type RawRow } from './rows.js'

export interface InlineGroup {
  batch: readonly NewReading[]
  firstSeq: number
  recvMs: number
  /** Evictions queued by admission (storage quotas, the disk budget), run after the inserts. */
  evicting: readonly Eviction[]
  /** Kept readings to trim (retention), in bytes. */
  keptTrim: number
  /** Bytes the hook is asked to free by compaction. */
  compactBytes: number
}

export class InlineCommit {
  private readonly insert: Statement
  private readonly selectRaw: Statement
  private readonly deleteOne: Statement
  /** Rows the hook removed inside the open transaction, accounted once it commits. */
  private txRemoved: StoredReading[] = []

  constructor(
    private readonly db: DB,
    private readonly p: WriterParts
  ) {
    this.insert = db.prepare(`INSERT INTO readings (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
    this.selectRaw = db.prepare(`SELECT ${COLS} FROM readings WHERE seq > ? AND kind = 0 ORDER BY seq LIMIT ?`).raw()
    this.deleteOne = db.prepare('DELETE FROM readings WHERE seq = ?')
  }

  /**
   * Commit `g` and account for it; returns the next seq. Throws what the transaction threw, with the
   * in-memory state it touched (totals, lanes, the hook's, device ids) rolled back.
   */
  run(g: InlineGroup, hook: CommitHook | null, fates: SeqLedger | null): number {
    const p = this.p
    const { devices, ledger, lanes, evictions, retention } = p
    const { batch, firstSeq, recvMs, evicting, keptTrim, compactBytes } = g
    const added: StoredReading[] = []
    let trimmed: Usage = { readings: 0, bytes: 0 }
    let evicted: EvictionDone[] = []
    let nextSeq = firstSeq
    try {
      this.db.transaction(() => {
        let seq = firstSeq
        for (const r of batch) {
          if (r.kind === KIND_LOCAL) {
            // Raw readings of rollup-only topics never go to Kafka: their rollups stand for them.
            fates?.fate(seq, devices.idOf(r.device), r.device, 'rollup_only')
            retention.insert(seq++, devices.idOf(r.device), r, recvMs)
          } else this.insertRow(seq++, r, recvMs, r.cls ?? 0, r.kind ?? KIND_RAW)
        }
        if (hook !== null) {
          hook.inTransaction({
            batch,
            firstSeq,
            recvMs,
            compactBytes,
            add: r => {
              const cls = r.cls ?? 0
              const kind = r.kind ?? KIND_RAW
              this.insertRow(seq, r, recvMs, cls, kind)
              added.push({ ...r, seq, recvMs, cls, kind })
              return seq++
            },
            scanRaw: (afterSeq, limit) => (this.selectRaw.all(afterSeq, limit) as RawRow[]).map(p.toReading),
            remove: rows => {
              for (const r of rows)
                if (this.deleteOne.run(r.seq).changes > 0) {
                  this.txRemoved.push(r)
                  fates?.fate(r.seq, devices.idOf(r.device), r.device, 'compacted')
                }
            }
          })
        }
        nextSeq = seq
        p.meta.put('next_seq', seq)
        // Evictions run after the inserts, in the same transaction: the buffer never holds both.
        if (evicting.length > 0) {
          const classes = classesLowestFirst(
            lanes.list().map(l => l.cls),
            batch.map(r => r.cls ?? 0)
          )
          evicted = evicting.map(e => evictions.runInTx(e, classes, seq))
        }
        if (keptTrim > 0) trimmed = retention.trimNow(keptTrim)
        fates?.writeTotals()
      })()
    } catch (err) {
      fates?.discard()
      lanes.rolledBack()
      this.txRemoved = []
      hook?.rolledBack()
      devices.rolledBack()
      throw err
    }
    fates?.committed()
    devices.committed()
    accountGroup(p, batch, firstSeq)
    for (const r of added) {
      ledger.account(r.device, 1, rowBytes(r.topic, r.payload, r.props), r.cls!)
      lanes.add(r.cls!, r.kind!, 1)
      evictions.noteFirst(r.device, r.seq, r.cls!)
    }
    for (const r of this.txRemoved) {
      ledger.account(r.device, -1, -rowBytes(r.topic, r.payload, r.props), r.cls ?? 0)
      lanes.add(r.cls ?? 0, r.kind ?? KIND_RAW, -1)
    }
    this.txRemoved = []
    lanes.committed()
    ledger.keep(-trimmed.readings, -trimmed.bytes)
    hook?.committed()
    evictions.committed(evicted)
    return nextSeq
  }

  private insertRow(seq: number, r: NewReading, recvMs: number, cls: number, kind: number): void {
    this.insert.run(
      seq,
      this.p.devices.idOf(r.device),
      r.topic,
      r.payload,
      recvMs,
      r.eventMs,
      r.qos,
      cls,
      kind,
      r.props ?? null
    )
  }
}

/** A committed group's readings in the buffer's accounting (usage, lanes, each device's oldest seq), wherever it committed. */
export function accountGroup(
  p: Pick<WriterParts, 'ledger' | 'lanes' | 'evictions'>,
  batch: readonly NewReading[],
  firstSeq: number
): void {
  const { ledger, lanes, evictions } = p
  for (let i = 0; i < batch.length; i++) {
    const r = batch[i]!
    if (r.kind === KIND_LOCAL) {
      ledger.keep(1, rowBytes(r.topic, r.payload, r.props))
      continue
    }
    ledger.account(r.device, 1, rowBytes(r.topic, r.payload, r.props), r.cls ?? 0)
    lanes.add(r.cls ?? 0, r.kind ?? KIND_RAW, 1)
    evictions.noteFirst(r.device, firstSeq + i, r.cls ?? 0)
  }
}
