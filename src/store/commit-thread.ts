/**
 * The broker thread's handle on the commit worker (commit-worker.ts): up to MAX_IN_FLIGHT groups in
 * flight (the next one commits while the previous one syncs), each handed over as one transferred
 * buffer; the answers come back as events, in the order the groups went. At shutdown the answer in
 * flight is taken synchronously (Atomics.wait + receiveMessageOnPort), so close() stays synchronous.
 * If the worker dies, `canTake()` turns false and the group commit goes back to committing inline.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads'
import type { CommitAnswer, CommitRequest, CommitWorkerData } from './commit-worker.js'

/**
 * `committed`: the group is in the file (null: the worker died holding it; the file tells). `error`: why
 * it failed, its commit or the WAL sync after it (committed and no error: committed and synced).
 */
export type CommitDone = (committed: boolean | null, error: string | null) => void
/** A WAL sync's answer: `lost` when the worker died before it answered (the caller syncs itself). */
export type SyncAnswer = (error: string | null, lost: boolean) => void

/** WAL fdatasyncs since start (store.synchronous = full): how many, seconds in all, the longest one. */
export interface WalSyncFigures {
  count: number
  seconds: number
  maxSeconds: number
}

/** How long shutdown waits for the groups in flight (a transaction and a sync each, normally under a few ms). */
const SETTLE_WAIT_MS = 10_000
/**
 * Groups handed over and not answered. Two: one syncing while the next commits; a third would only
 * wait behind them on the worker instead of gathering more readings here.
 */
export const MAX_IN_FLIGHT = 2

export class CommitThread {
  /** Resolves once the worker runs (or failed to start): groups are handed over only after that. */
  readonly ready: Promise<void>
  private readonly worker: Worker
  private readonly replies: MessagePort
  private readonly answered = new Int32Array(new SharedArrayBuffer(4))
  private readonly syncStats = new BigInt64Array(new SharedArrayBuffer(24))
  private taken = 0
  private nextId = 0
  private readonly jobs: Array<{ id: number; done: CommitDone }> = []
  private readonly syncs = new Map<number, SyncAnswer>()
  private running = false
  private failed = false
  private isClosed = false
  /** The worker answered 'close': its connection is closed. */
  private closeAnswered = false

  constructor(
    file: string,
    synchronous: 'OFF' | 'NORMAL',
    sync: CommitWorkerData['sync'],
    busyTimeoutMs: number,
    journalSizeLimit: number,
    private readonly onError: (message: string) => void
  ) {
    const { port1, port2 } = new MessageChannel()
    this.replies = port1
    const data: CommitWorkerData = {
      file,
      synchronous,
      sync,
      busyTimeoutMs,
      journalSizeLimit,
      replies: port2,
      answered: this.answered,
      syncStats: this.syncStats
    }
    this.worker = new Worker(new URL('./commit-worker.js', import.meta.url), {
      workerData: data,
      transferList: [port2],
      // The rows are SQLite's, outside the JavaScript heap; a group is one buffer.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 }
    })
    let started!: () => void
    // Referenced until it runs, so that awaiting `ready` keeps the process alive.
    this.ready = new Promise(resolve => {
      started = () => {
        this.worker.unref()
        this.replies.unref()
        resolve()
      }
    })
    this.worker.on('message', (m: { ready?: true }) => {
      if (m.ready !== true) return
      this.running = true
      started()
    })
    this.replies.on('message', (a: CommitAnswer) => this.take(a))
    const fail = (message: string): void => {
      if (this.failed) return
      this.failed = true
      started()
      onError(message)
      const jobs = this.jobs.splice(0)
      this.replies.unref()
      for (const job of jobs) job.done(null, message)
      const syncs = [...this.syncs.values()]
      this.syncs.clear()
      for (const done of syncs) done(message, true)
    }
    this.worker.on('error', err => fail(err.message))
    this.worker.on('exit', code => fail(`commit worker exited (code ${code})`))
  }

  /** close() ran: the worker is gone on purpose (at shutdown), not failed. */
  get closed(): boolean {
    return this.isClosed
  }

  /** The WAL fdatasyncs the worker has done since start: how many, their total and the longest, in seconds. */
  walSyncs(): WalSyncFigures {
    return {
      count: Number(Atomics.load(this.syncStats, 0)),
      seconds: Number(Atomics.load(this.syncStats, 1)) / 1e6,
      maxSeconds: Number(Atomics.load(this.syncStats, 2)) / 1e6
    }
  }

  /** The worker runs and takes another group now (fewer than MAX_IN_FLIGHT in flight). */
  canTake(): boolean {
    return this.running && !this.failed && this.jobs.length < MAX_IN_FLIGHT
  }

  /**
   * Hand over one encoded group (packGroup: it owns its ArrayBuffer, which is transferred). `epoch`:
   * the failures the caller has seen; the worker refuses a group whose epoch saw a failure it has not.
   */
  commit(b: Buffer, epoch: number, done: CommitDone): void {
    const id = this.nextId++
    this.jobs.push({ id, done })
    // A group in flight keeps the process alive until it is answered.
    this.replies.ref()
    const msg: CommitRequest = {
      type: 'commit',
      id,
      epoch,
      buf: b.buffer as ArrayBuffer,
      offset: b.byteOffset,
      length: b.length
    }
    this.worker.postMessage(msg, [msg.buf])
  }

  /**
   * fdatasync the WAL on the worker, after whatever it was handed before (wal-sync.ts, for groups
   * committed on this thread); false if the worker failed. One asked before it runs waits for it.
   */
  sync(done: SyncAnswer): boolean {
    if (this.failed) return false
    const id = this.nextId++
    this.syncs.set(id, done)
    this.replies.ref()
    this.worker.postMessage({ type: 'sync', id } satisfies CommitRequest)
    return true
  }

  /** The checkpoint job failed: the commit worker's connection checkpoints (and syncs) too. */
  checkpointInline(): void {
    if (!this.failed) this.worker.postMessage({ type: 'checkpoint-inline' } satisfies CommitRequest)
  }

  /** At shutdown: wait here for the answers in flight and hand them to their callbacks. */
  settle(): void {
    if (this.takeUntil(() => this.jobs.length === 0 || this.failed)) return
    const jobs = this.jobs.splice(0)
    this.failed = true
    this.onError('commit worker did not answer at shutdown')
    for (const job of jobs) job.done(null, 'commit worker did not answer at shutdown')
  }

  /** Close the worker's connection, waiting here (after settle()), then stop the worker. */
  close(): void {
    if (this.running && !this.failed) {
      this.worker.postMessage({ type: 'close' } satisfies CommitRequest)
      // Answers to WAL syncs asked before it may come first: they are handed on, the close's ends the wait.
      this.takeUntil(() => this.closeAnswered)
    }
    this.failed = true
    this.isClosed = true
    this.syncs.clear()
    this.replies.close()
    void this.worker.terminate()
  }

  /** Take answers here, synchronously, until `done()`; false if SETTLE_WAIT_MS passed first. */
  private takeUntil(done: () => boolean): boolean {
    const deadline = performance.now() + SETTLE_WAIT_MS
    while (!done()) {
      const got = receiveMessageOnPort(this.replies)
      if (got !== undefined) {
        this.take(got.message as CommitAnswer)
        continue
      }
      const left = deadline - performance.now()
      if (left <= 0) return false
      Atomics.wait(this.answered, 0, this.taken, left)
    }
    return true
  }

  private take(a: CommitAnswer): void {
    this.taken++
    if (a.closed === true) {
      this.closeAnswered = true
      return
    }
    const sync = this.syncs.get(a.id)
    if (sync !== undefined) {
      this.syncs.delete(a.id)
      if (this.jobs.length === 0 && this.syncs.size === 0) this.replies.unref()
      return sync(a.error, false)
    }
    if (this.jobs[0]?.id !== a.id) return
    const job = this.jobs.shift()!
    if (this.jobs.length === 0 && this.syncs.size === 0) this.replies.unref()
    job.done(a.committed, a.error)
  }
}
