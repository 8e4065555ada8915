/**
 * The fsync of the group commit, on a worker thread. The write connection commits with
 * synchronous=NORMAL (the WAL frames are written, not synced: a crash of the process cannot lose
 * them, a power cut can); this worker then fdatasyncs the WAL file, and only its answer lets the
 * PUBACKs of the commits it covers leave. fdatasync works per file, whichever descriptor wrote the
 * pages. While one sync runs, the broker keeps admitting and the next groups commit: one sync then
 * covers all of them (pipelining), so an fsync's latency is hidden, not added per group.
 */
import { closeSync, fdatasyncSync, openSync } from 'node:fs'
import { Worker } from 'node:worker_threads'

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const fs = require('node:fs')
let dirSynced = false
const syncFile = (path) => {
  const fd = fs.openSync(path, 'r')
  try { fs.fdatasyncSync(fd) } finally { fs.closeSync(fd) }
}
parentPort.on('message', (id) => {
  let error = null
  try {
    syncFile(workerData.wal)
    // Once: the WAL file's directory entry, so the file itself survives a power cut.
    if (!dirSynced) { syncFile(workerData.dir); dirSynced = true }
  } catch (err) { error = String((err && err.message) || err) }
  parentPort.postMessage({ id, error })
})
parentPort.postMessage({ ready: true })
`

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
  private readonly worker: Worker
  private nextId = 0
  private readonly waiting = new Map<number, SyncDone>()
  /** Resolves once the worker runs: a gateway starts taking devices only then (no first PUBACK waits for it). */
  readonly ready: Promise<void>

  /** The worker died: sync on this thread, as SQLite would with synchronous=FULL. */
  private inline = false

  constructor(
    private readonly wal: string,
    dir: string,
    onError: (message: string) => void
  ) {
    // A tiny heap: it only opens, syncs and closes a file.
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { wal, dir },
      resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1 }
    })
    let started!: () => void
    // Referenced until it runs, so that awaiting `ready` keeps the process alive.
    this.ready = new Promise(resolve => {
      started = () => {
        this.worker.unref()
        resolve()
      }
    })
    this.worker.on('message', (m: { id: number; error: string | null } | { ready: true }) => {
      if ('ready' in m) return started()
      const done = this.waiting.get(m.id)
      this.waiting.delete(m.id)
      if (this.waiting.size === 0) this.worker.unref()
      done?.(m.error)
    })
    this.worker.on('error', err => {
      this.inline = true
      started()
      onError(err.message)
      for (const done of this.waiting.values()) done(syncFile(this.wal))
      this.waiting.clear()
    })
  }

  /** Sync what the WAL holds now; `done` runs on the broker's thread once it is on disk. */
  sync(done: SyncDone): void {
    if (this.inline) {
      const error = syncFile(this.wal)
      setImmediate(() => done(error))
      return
    }
    const id = this.nextId++
    // A sync in flight keeps the process alive until it is answered.
    if (this.waiting.size === 0) this.worker.ref()
    this.waiting.set(id, done)
    this.worker.postMessage(id)
  }

  /** At shutdown: sync on this thread (nothing else waits for it any more), then stop the worker. */
  closeSync(): string | null {
    const error = syncFile(this.wal)
    void this.worker.terminate()
    return error
  }
}
