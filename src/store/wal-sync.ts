/**
 * The fsync of the group commits the broker thread runs itself (store.synchronous = full). That
 * connection commits with synchronous=OFF (the WAL frames are written, not synced: a crash of the
 * process cannot lose them, a power cut can); the commit worker (commit-thread.ts) then fdatasyncs the
 * WAL file, and only its answer lets the PUBACKs of the commits it covers leave. fdatasync works per
 * file, whichever descriptor wrote the pages. While one sync runs, the broker keeps admitting and the
 * next groups commit: one sync then covers all of them (pipelining), so an fsync's latency is hidden,
 * not added per group. The commit worker does it so that no thread (and no heap of its own) exists
 * only for this: it syncs after each of its own groups anyway.
 */
import { closeSync, fdatasyncSync, openSync } from 'node:fs'
import type { CommitThread } from './commit-thread.js'

export type SyncDone = (error: string | null) => void

function syncFile(path: string): string | null {
  try {
    const fd = openSync(path, 'r')
    try {
      fdatasyncSync(fd)
    } finally {
      closeSync(fd)
    }
    return null
  } catch (err) {
    return (err as Error).message
  }
}

export class WalSync {
  /** The commit worker is gone: sync on this thread, as SQLite would with synchronous=FULL. */
  private inline = false

  constructor(
    private readonly wal: string,
    private readonly worker: CommitThread,
    private readonly onError: (message: string) => void
  ) {}

  /** Sync what the WAL holds now; `done` runs on the broker's thread once it is on disk. */
  sync(done: SyncDone): void {
    if (!this.inline && this.worker.sync((error, lost) => (lost ? this.goInline(error!, done) : done(error)))) return
    // Closed at shutdown, the last groups sync here: nothing failed.
    if (!this.inline && !this.worker.closed) this.goInline('the commit worker does not run', null)
    const error = syncFile(this.wal)
    setImmediate(() => done(error))
  }

  /** At shutdown: sync on this thread (nothing else waits for it any more). */
  closeSync(): string | null {
    return syncFile(this.wal)
  }

  private goInline(message: string, done: SyncDone | null): void {
    if (!this.inline) {
      this.inline = true
      this.onError(message)
    }
    if (done !== null) done(syncFile(this.wal))
  }
}
