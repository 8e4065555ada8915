/**
 * WAL checkpoints, a job on the background thread (platform/background.ts) with a connection of its
 * own. SQLite's automatic checkpoint runs inside whichever commit crosses the threshold, stalling that
 * group's PUBACKs (and the event loop) for the time it takes to copy and fsync a thousand pages; here it
 * never does. On 'close' it checkpoints once more (TRUNCATE), closes its connection and answers 'closed'.
 */
import Database from 'better-sqlite3'
import type { MessagePort } from 'node:worker_threads'

export interface CheckpointJobData {
  file: string
  synchronous: 'FULL' | 'NORMAL'
  intervalMs: number
}

export function start(data: unknown, port: MessagePort): void {
  const d = data as CheckpointJobData
  const db = new Database(d.file)
  db.pragma('busy_timeout = 1000')
  // A checkpoint copies WAL frames into the file without the page cache: keep it small (default 2 MB).
  db.pragma('cache_size = -128')
  db.pragma(`synchronous = ${d.synchronous}`)
  const timer = setInterval(() => {
    try {
      db.pragma('wal_checkpoint(PASSIVE)')
    } catch (err) {
      port.postMessage({ error: String((err as Error)?.message ?? err) })
    }
  }, d.intervalMs)
  const stop = (): void => {
    clearInterval(timer)
    if (!db.open) return
    try {
      db.pragma('wal_checkpoint(TRUNCATE)')
    } catch {
      // The next start checkpoints what is left.
    }
    db.close()
  }
  port.on('message', (m: unknown) => {
    if (m !== 'close') return
    stop()
    port.postMessage({ closed: true })
    port.close()
  })
  // The owner went away without 'close' (its thread ends): stop the timer, release the file.
  port.on('close', stop)
}
