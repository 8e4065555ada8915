/**
 * WAL checkpoints on a worker thread with its own connection. SQLite's automatic checkpoint
 * runs inside whichever commit crosses the threshold, stalling that group's PUBACKs (and the
 * event loop) for the time it takes to copy and fsync a thousand pages; here it never does.
 */
import { Worker } from 'node:worker_threads'

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.driver)
const db = new Database(workerData.file)
db.pragma('busy_timeout = 1000')
db.pragma('synchronous = ' + workerData.synchronous)
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)') } catch (err) { parentPort.postMessage({ error: String(err && err.message || err) }) }
}, workerData.intervalMs)
parentPort.on('message', (m) => {
  if (m === 'close') { clearInterval(timer); try { db.pragma('wal_checkpoint(TRUNCATE)') } catch {} db.close(); parentPort.postMessage({ closed: true }) }
})
`

export interface Checkpointer {
  close: () => Promise<void>
}

export function startCheckpointer(
  file: string,
  synchronous: 'full' | 'normal',
  driverPath: string,
  onError: (message: string) => void,
  intervalMs = 250
): Checkpointer {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    // A small heap: the work is SQLite's, outside the JavaScript heap.
    resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1 },
    workerData: { file, synchronous: synchronous === 'full' ? 'FULL' : 'NORMAL', driver: driverPath, intervalMs }
  })
  worker.on('message', (m: { error?: string }) => {
    if (m.error !== undefined) onError(m.error)
  })
  worker.on('error', err => onError(err.message))
  worker.unref()
  return {
    close: async () => {
      await new Promise<void>(resolve => {
        const t = setTimeout(resolve, 2000)
        worker.once('message', () => {
          clearTimeout(t)
          resolve()
        })
        worker.postMessage('close')
      })
      await worker.terminate()
    }
  }
}
