/**
 * The group-commit writer. Appends made in one turn of the event loop (or one commit window) are
 * committed in one transaction that assigns sequence numbers; only then are the callbacks called,
 * so a PUBACK always follows the fsync of its reading. Evictions, trims of kept readings and the
 * commit hook (the aggregator) run in the same transaction.
 *
 * Where a group commits: a group of plain inserts (known devices, no evictions, trims, compaction,
 * kept-only readings or aggregation work) goes to the commit worker (commit-thread.ts): one group in
 * flight while the next one gathers, or, under heavy load, two (one syncing while the next commits); any other group
 * commits here, on this connection (inline-commit.ts), once nothing is in flight, because its work
 * reads and updates state that lives on this thread.
 */
import { packGroup } from './batch-wire.js'
import { MAX_IN_FLIGHT, type CommitThread, type WalSyncFigures } from './commit-thread.js'
import { HoldfastError } from '../errors.js'
import type { DB } from './db.js'
import type { DeviceIds } from './devices.js'
import type { Evictions } from './evictions.js'
import type { LaneCounts } from './lane-counts.js'
import type { Meta } from './meta.js'
import { KIND_LOCAL, rowBytes, type NewReading } from './reading.js'
import type { ReceiveTimes } from './receive-times.js'
import type { ResendCheck } from './resend.js'
import type { Retention } from './retention.js'
import type { ToReading } from './rows.js'
import type { UsageLedger } from './usage.js'
import type { WalSync } from './wal-sync.js'
import { SyncQueue, type Unsynced } from './sync-queue.js'
import type { SeqLedger } from './ledger.js'
import { accountGroup, InlineCommit } from './inline-commit.js'
import type { CommitHook } from './commit-hook.js'

export type AppendCallback = (err: HoldfastError | null, seq: number) => void

/** A group this large is committed at once instead of waiting out the commit window. */
const COMMIT_NOW_ROWS = 256

/** The parts of the store a group commit reads and updates. */
export interface WriterParts {
  devices: DeviceIds
  ledger: UsageLedger
  lanes: LaneCounts
  evictions: Evictions
  retention: Retention
  resend: ResendCheck
  times: ReceiveTimes
  meta: Meta
  toReading: ToReading
  /** Syncs the WAL off this thread before PUBACKs leave (store.synchronous = full); null = no fsync (normal). */
  walSync: WalSync | null
  /** Commits groups of plain inserts on a worker; null = every group commits on this thread. */
  thread: CommitThread | null
}

export class GroupCommit {
  /** Totals since start, for the status API and metrics; `offThread`: commits the commit worker ran. */
  readonly totals = { committed: 0, commits: 0, commitErrors: 0, offThread: 0 }
  private pending: NewReading[] = []
  private pendingCbs: AppendCallback[] = []
  private scheduled = false
  private timer: NodeJS.Timeout | null = null
  private lastCommitMs = -Infinity
  private nextSeq: number
  private lastOk = true
  private hook: CommitHook | null = null
  private commitWanted = false
  private compactBytes = 0
  private readonly commitListeners: Array<() => void> = []
  /** Groups the commit worker cannot take commit here. */
  private readonly inline: InlineCommit
  /** The seqs' fates and lifetime totals (ledger.ts), written in the commit that decides them. */
  fates: SeqLedger | null = null
  /** Committed groups waiting for the WAL sync. */
  private readonly syncs: SyncQueue
  /** Every reading up to here is committed and on disk: what the forwarder may read. */
  private durable: number
  /** The groups the commit worker holds, oldest first; nothing commits on this thread until they are answered. */
  private readonly inflight: Array<{ batch: NewReading[]; cbs: AppendCallback[]; firstSeq: number; epoch: number }> = []
  /**
   * Counts the commit worker's failures seen here. A group carries the count it was handed with; the
   * worker refuses a group handed before the failure of the one ahead of it was seen, so seqs never
   * skip a failed group's (see commit-worker.ts).
   */
  private epoch = 0
  /** Writes waiting for the group in flight to be answered (whenIdle). */
  private idleWaiters: Array<() => void> = []
  private closing = false
  /**
   * Set by the first failed WAL sync. After an fsync error Linux may already have dropped the pages it
   * could not write, so WAL frames committed later (and synced without error) could sit behind a hole
   * that recovery stops at: nothing commits or is acknowledged after it, and the process must stop and
   * recover from what is on disk (PostgreSQL's answer to the same problem).
   */
  private brokenBy: HoldfastError | null = null
  private readonly brokenListeners: Array<(e: HoldfastError) => void> = []

  constructor(
    private readonly db: DB,
    private readonly p: WriterParts,
    private readonly commitWindowMs: number
  ) {
    this.inline = new InlineCommit(db, p)
    this.nextSeq = GroupCommit.nextSeqOf(db, p.meta)
    this.durable = this.nextSeq - 1
    this.syncs = new SyncQueue(p.walSync, this.synced)
  }

  /**
   * The sequence never goes back, even after every row was forwarded and deleted:
   * (gateway id, seq) is the reading's event id downstream.
   */
  static nextSeqOf(db: DB, meta: Meta): number {
    const maxSeq = (db.prepare('SELECT max(seq) FROM readings').pluck().get() as number | null) ?? 0
    return Math.max(meta.get('next_seq') ?? 1, maxSeq + 1)
  }

  /** Queue a reading for the next group commit; `cb` runs after it is durable (or failed). */
  append(reading: NewReading, cb: AppendCallback): void {
    if (this.brokenBy !== null) {
      process.nextTick(cb, this.brokenBy, 0)
      return
    }
    this.pending.push(reading)
    this.pendingCbs.push(cb)
    this.p.ledger.addPending(
      reading.device,
      1,
      rowBytes(reading.topic, reading.payload, reading.props),
      reading.cls ?? 0
    )
    this.schedule()
  }

  /** The aggregator: runs inside every group commit. */
  setHook(hook: CommitHook): void {
    this.hook = hook
  }

  /** Commit soon even with nothing appended (the hook has windows to close, evictions or trims wait). */
  readonly requestCommit = (): void => {
    this.commitWanted = true
    this.schedule()
  }

  /** Ask the hook to free about `bytes` by compaction in the next commit. */
  requestCompaction(bytes: number): void {
    this.compactBytes = Math.max(this.compactBytes, bytes)
    this.requestCommit()
  }

  compactionPending(): boolean {
    return this.compactBytes > 0
  }

  onCommit(listener: () => void): void {
    this.commitListeners.push(listener)
  }

  /** False while the most recent commit failed (disk full, I/O error): /readyz reports it. */
  lastCommitOk(): boolean {
    return this.lastOk && this.brokenBy === null
  }

  /** Called once, at the first failed WAL sync: the buffer takes nothing more (see `brokenBy`). */
  onBroken(listener: (e: HoldfastError) => void): void {
    this.brokenListeners.push(listener)
  }

  broken(): HoldfastError | null {
    return this.brokenBy
  }

  lastSeq(): number {
    return this.nextSeq - 1
  }

  /**
   * Run `write` on this thread while no group is in flight on the commit worker: at once if none is,
   * else as soon as it is answered, before the next group is handed over. A write made there never makes
   * the worker wait for SQLite's lock (its busy handler sleeps in steps of up to 100 ms). `write` must not throw.
   */
  whenIdle(write: () => void): void {
    if (this.inflight.length === 0) write()
    else this.idleWaiters.push(write)
  }

  /** The commit worker's WAL syncs since start; null without a commit worker. */
  walSyncs(): WalSyncFigures | null {
    return this.p.thread?.walSyncs() ?? null
  }

  /** The newest seq that is committed and synced: readers never go past it (nothing unsynced leaves the box). */
  durableSeq(): number {
    return this.durable
  }

  /** Commit what is queued and sync it (at shutdown, on this thread). */
  close(): void {
    this.closing = true
    this.p.thread?.settle()
    this.p.thread?.close()
    this.flush()
    this.syncs.close()
  }

  /**
   * A commit costs at least one page written twice (WAL, then checkpoint) and an fsync, however
   * few readings it holds. So commits start at most every commitWindowMs: a reading after a quiet
   * spell is committed at once, while under steady traffic each commit gathers what arrived in
   * the window (or commits early once a large group waits). Measured at 5,000 readings/s from
   * 1,000 devices: 2 ms cuts the bytes written per reading by about two thirds (SD cards and
   * eMMC wear out) for at most 2 ms more PUBACK latency.
   */
  private schedule(): void {
    // The commit worker's answer schedules what gathered meanwhile.
    if (this.inflight.length >= MAX_IN_FLIGHT || this.waitsForAnswer()) return
    if (this.scheduled || (this.timer !== null && this.pending.length < COMMIT_NOW_ROWS)) return
    const wait = this.lastCommitMs + this.commitWindowMs - performance.now()
    if (wait <= 0 || this.pending.length >= COMMIT_NOW_ROWS) {
      if (this.timer !== null) {
        clearTimeout(this.timer)
        this.timer = null
      }
      this.scheduled = true
      setImmediate(this.flush)
      return
    }
    this.timer = setTimeout(this.flushFromTimer, wait)
  }

  private readonly flushFromTimer = (): void => {
    this.timer = null
    if (!this.scheduled) this.flush()
  }

  /** Commit everything queued, in one transaction. */
  readonly flush = (): void => {
    this.scheduled = false
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
    if (this.brokenBy !== null) return
    if (this.handOff()) return
    // The commit worker's answer schedules what gathered meanwhile.
    if (this.inflight.length > 0) return
    this.lastCommitMs = performance.now()
    const { ledger, evictions, retention } = this.p
    const batch = this.pending
    const cbs = this.pendingCbs
    const evicting = evictions.take()
    const keptTrim = retention.takeTrim()
    const compactBytes = this.compactBytes
    if (batch.length === 0 && evicting.length === 0 && !this.commitWanted && keptTrim === 0 && compactBytes === 0)
      return
    this.pending = []
    this.pendingCbs = []
    this.commitWanted = false
    this.compactBytes = 0
    ledger.clearPending()
    const firstSeq = this.nextSeq
    let nextSeq: number
    try {
      nextSeq = this.inline.run(
        { batch, firstSeq, recvMs: this.p.times.stamp(), evicting, keptTrim, compactBytes },
        this.hook,
        this.fates
      )
    } catch (err) {
      this.totals.commitErrors++
      this.lastOk = false
      const e = new HoldfastError(
        'HF_ERR_STORE_COMMIT',
        `buffer commit failed: ${(err as Error).message}`,
        { readings: batch.length },
        { cause: err }
      )
      for (const cb of cbs) cb(e, 0)
      return
    }
    this.nextSeq = nextSeq
    this.counted(batch)
    this.syncs.add({ cbs, firstSeq, lastSeq: nextSeq - 1, batch })
  }

  /**
   * Hand the queued group to the commit worker if it needs nothing but inserts; false if it must
   * commit here (or nothing is queued).
   */
  private handOff(): boolean {
    const thread = this.p.thread
    const batch = this.pending
    if (thread === null || this.closing || !thread.canTake() || batch.length === 0) return false
    const ahead = this.inflight[this.inflight.length - 1]
    if (ahead !== undefined) {
      // A write waiting for the worker to be idle (the forwarder's deletes) goes first: two groups in turn would starve it.
      if (this.idleWaiters.length > 0) return false
      // The group ahead went before a failure seen since: the worker refuses it, and this group's seqs,
      // which would follow its, must wait to follow the last committed one.
      if (ahead.epoch !== this.epoch) return false
      if (this.waitsForAnswer()) return false
    }
    if (this.commitWanted || this.compactBytes > 0 || this.p.evictions.queuedCount() > 0) return false
    if (this.p.retention.trimQueued() > 0 || (this.hook !== null && !this.hook.quiet(batch))) return false
    const ids: number[] = new Array(batch.length)
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i]!
      // A new device's id is made inside a transaction here; kept-only readings go to `kept` here.
      const id = this.p.devices.find(r.device)
      if (id === undefined || r.kind === KIND_LOCAL) return false
      ids[i] = id
    }
    this.lastCommitMs = performance.now()
    const cbs = this.pendingCbs
    this.pending = []
    this.pendingCbs = []
    this.p.ledger.holdPending()
    const firstSeq = ahead === undefined ? this.nextSeq : ahead.firstSeq + ahead.batch.length
    this.inflight.push({ batch, cbs, firstSeq, epoch: this.epoch })
    thread.commit(packGroup(batch, ids, firstSeq, this.p.times.stamp()), this.epoch, this.answered)
    return true
  }

  /**
   * The queued group waits for the commit worker's answer instead of going as a second group: it goes
   * alongside one in flight only when it is large (heavy load: it commits while the first one syncs). A
   * small one handed over at the answer is covered by the sync that starts right after its commit, not
   * by the one after that, and fewer, larger transactions write fewer pages.
   */
  private waitsForAnswer(): boolean {
    return this.inflight.length > 0 && this.pending.length < COMMIT_NOW_ROWS
  }

  /** The commit worker's answer for the oldest group in flight: committed (and synced, unless `error`), or not. */
  private readonly answered = (answer: boolean | null, error: string | null): void => {
    const { batch, cbs, firstSeq } = this.inflight.shift()!
    const lastSeq = firstSeq + batch.length - 1
    // The worker died holding the group: the next seq, written in the same transaction, tells.
    const committed = answer ?? GroupCommit.nextSeqOf(this.db, this.p.meta) > lastSeq
    this.p.ledger.releaseHeld()
    if (committed) {
      this.nextSeq = Math.max(this.nextSeq, lastSeq + 1)
      this.totals.offThread++
      accountGroup(this.p, batch, firstSeq)
      this.counted(batch)
      // Synced by the worker; or, if it died before it could tell, synced here before the PUBACKs leave.
      if (answer === null) this.syncs.add({ cbs, firstSeq, lastSeq, batch })
      else this.synced([{ cbs, firstSeq, lastSeq, batch }], error)
    } else {
      this.epoch++
      this.totals.commitErrors++
      this.lastOk = false
      const e = new HoldfastError(
        'HF_ERR_STORE_COMMIT',
        `buffer commit failed: ${error}`,
        { readings: batch.length },
        { cause: error }
      )
      for (const cb of cbs) cb(e, 0)
    }
    if (this.inflight.length === 0) {
      const waiting = this.idleWaiters
      this.idleWaiters = []
      for (const w of waiting) w()
    }
    // What gathered meanwhile commits within the commit window, as usual (each commit costs a page written twice).
    if (!this.closing && (this.pending.length > 0 || this.commitWanted || this.compactBytes > 0)) this.schedule()
  }

  /** A group committed: the writer's own totals. */
  private counted(batch: readonly NewReading[]): void {
    this.lastOk = true
    this.totals.committed += batch.length
    this.totals.commits++
  }

  /**
   * The groups are on disk: their PUBACKs may leave, re-sends are matched against them and the
   * forwarder may read them. A failed sync fails their appends (the device is told and re-sends; the
   * re-send is stored again rather than acknowledged against rows that may not be on disk).
   */
  private readonly synced = (groups: readonly Unsynced[], error: string | null): void => {
    if (groups.length === 0) return
    const firstFailure = error !== null && this.brokenBy === null
    if (firstFailure)
      this.brokenBy = new HoldfastError(
        'HF_ERR_STORE_SYNC',
        `buffer WAL sync failed: ${error}; nothing more is committed or acknowledged until the gateway restarts and recovers the buffer from disk`,
        { readings: groups.reduce((n, g) => n + g.cbs.length, 0) }
      )
    // A commit worker's sync also covers groups committed here before it, still waiting for WalSync.
    // A failed sync moves nothing, nor does any sync after it: the forwarder must not send rows a power
    // cut could take back.
    const e = this.brokenBy
    if (e === null) for (const g of groups) this.durable = Math.max(this.durable, g.lastSeq)
    if (e !== null) {
      this.totals.commitErrors++
      this.lastOk = false
    } else for (const g of groups) this.p.resend.remember(g.batch)
    for (const g of groups) for (let i = 0; i < g.cbs.length; i++) g.cbs[i]!(e, e === null ? g.firstSeq + i : 0)
    if (firstFailure) this.failPending(e!)
    for (const l of this.commitListeners) l()
    if (firstFailure) for (const l of this.brokenListeners) l(e!)
  }

  /** The buffer is broken: what waits for a commit fails now, as everything appended later will. */
  private failPending(e: HoldfastError): void {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
    const cbs = this.pendingCbs
    this.pending = []
    this.pendingCbs = []
    this.p.ledger.clearPending()
    for (const cb of cbs) cb(e, 0)
  }
}
