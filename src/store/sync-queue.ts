/**
 * Committed groups waiting for the WAL sync (wal-sync.ts): one sync at a time, covering every group
 * committed before it started, so the next groups commit while it runs. Without a WalSync
 * (store.synchronous = normal) a group is done as soon as it is committed.
 */
import type { AppendCallback } from './group-commit.js'
import type { NewReading } from './reading.js'
import type { WalSync } from './wal-sync.js'

/** A committed group whose WAL frames are not yet known to be on disk. */
export interface Unsynced {
  cbs: AppendCallback[]
  firstSeq: number
  lastSeq: number
  /** The group's readings: re-sends are matched against them only once they are on disk. */
  batch: readonly NewReading[]
}
/** The groups are on disk (error null), or their sync failed. */
export type Synced = (groups: readonly Unsynced[], error: string | null) => void

export class SyncQueue {
  private unsynced: Unsynced[] = []
  private syncing = false

  constructor(
    private readonly walSync: WalSync | null,
    private readonly done: Synced
  ) {}

  add(g: Unsynced): void {
    if (this.walSync === null) return this.done([g], null)
    this.unsynced.push(g)
    this.start()
  }

  /** At shutdown: sync on this thread and finish every group still waiting. */
  close(): void {
    const error = this.walSync?.closeSync() ?? null
    if (this.unsynced.length > 0) this.done(this.unsynced.splice(0), error)
  }

  private start(): void {
    if (this.syncing || this.unsynced.length === 0 || this.walSync === null) return
    this.syncing = true
    const covered = this.unsynced.length
    this.walSync.sync(error => {
      this.syncing = false
      this.done(this.unsynced.splice(0, covered), error)
      this.start()
    })
  }
}
