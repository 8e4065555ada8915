/**
 * The store-and-forward buffer: one SQLite connection and the parts that share it, each with one job.
 * - `writer` (group-commit.ts, commit-thread.ts): appends and the group commit; the PUBACK follows the commit.
 * - `usage` (usage.ts): what each device and the whole buffer hold, and will hold once queued work commits.
 * - `evictions` (evictions.ts, evict-order.ts): drop-oldest requests, run in the next commit.
 * - `lanes` (lanes.ts): the forwarder's reads and releases (and the re-send record of what left).
 * - `retention` (retention.ts): forwarded readings kept on the box, trims and sweeps.
 * - `resend` (resend.ts, resend-record.ts): re-send detection, across restarts.
 * - `meta` (meta.ts): numbers kept across restarts.
 * - `times` (receive-times.ts): receive times and clock corrections.
 */
import type { DB } from './db.js'
import { DeviceIds } from './devices.js'
import { Evictions } from './evictions.js'
import { GroupCommit } from './group-commit.js'
import { LaneCounts } from './lane-counts.js'
import { LaneReader } from './lanes.js'
import { Meta } from './meta.js'
import { ReceiveTimes } from './receive-times.js'
import type { RecoveryReport } from './recover.js'
import { ResendCheck } from './resend.js'
import { ResendRecord } from './resend-record.js'
import { Retention } from './retention.js'
import { rowReader } from './rows.js'
import { RunReads } from './run-reads.js'
import { deviceTotals, UsageLedger } from './usage.js'
import { SeqLedger } from './ledger.js'
import type { WalSync } from './wal-sync.js'
import type { CommitThread } from './commit-thread.js'

export class ReadingBuffer {
  readonly writer: GroupCommit
  readonly usage: UsageLedger
  readonly evictions: Evictions
  readonly lanes: LaneReader
  readonly retention: Retention
  readonly resend: ResendCheck
  readonly meta: Meta
  readonly times: ReceiveTimes
  /** Fates of seqs that will never be forwarded, and lifetime totals (README "Control records"). */
  readonly seqLedger: SeqLedger
  private readonly devices: DeviceIds
  /** What start-up found and did when the buffer files were damaged; null when they were sound. */
  recovery: RecoveryReport | null = null

  constructor(
    private readonly db: DB,
    commitWindowMs = 0,
    /** store.synchronous = full: the WAL is synced off the broker's thread before PUBACKs leave. */
    walSync: WalSync | null = null,
    /** Groups of plain inserts commit on this worker (db.ts moveCommitsOffThread); null = all on this thread. */
    thread: CommitThread | null = null
  ) {
    const devices = new DeviceIds(db)
    this.devices = devices
    this.seqLedger = new SeqLedger(db)
    this.meta = new Meta(db)
    const nextSeq = GroupCommit.nextSeqOf(db, this.meta)
    this.times = new ReceiveTimes(db, this.meta, nextSeq)
    const toReading = rowReader(devices, this.times)
    const start = deviceTotals(db, devices)
    this.usage = new UsageLedger(db, start)
    const counts = new LaneCounts(db)
    // The writer is made last; the parts that queue work for it ask it to commit through this.
    const requestCommit = (): void => this.writer.requestCommit()
    this.retention = new Retention(db, this.usage, requestCommit)
    this.evictions = new Evictions(db, start, devices, this.usage, counts, requestCommit)
    const record = new ResendRecord(db)
    const reads = new RunReads(db, {
      nameOf: id => devices.nameOf(id),
      corrected: (seq, recvMs) => this.times.corrected(seq, recvMs)
    })
    this.lanes = new LaneReader(db, reads, counts, this.retention, this.usage, devices, record, () =>
      this.writer.durableSeq()
    )
    this.resend = new ResendCheck(db, devices, nextSeq - 1, start.length, record)
    this.writer = new GroupCommit(
      db,
      {
        devices,
        ledger: this.usage,
        lanes: counts,
        evictions: this.evictions,
        retention: this.retention,
        resend: this.resend,
        times: this.times,
        meta: this.meta,
        toReading,
        walSync,
        thread
      },
      commitWindowMs
    )
    this.writer.fates = this.seqLedger
    this.evictions.fates = this.seqLedger
    this.lanes.fates = this.seqLedger
  }

  /** A device's name from its id in the database (the ledger's fates keep ids). */
  deviceName(id: number): string {
    return this.devices.nameOf(id)
  }

  /** Commit what is queued, then close the connection. */
  close(): void {
    this.writer.close()
    this.db.close()
  }
}
