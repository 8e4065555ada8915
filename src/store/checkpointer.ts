/**
 * WAL checkpoints off the commit path: checkpoint-job.ts on the background thread. If it fails, the
 * owner brings SQLite's own automatic checkpoints back (db.ts), so the WAL never grows without bound.
 */
import { startJob } from '../platform/background.js'
import type { CheckpointJobData } from './checkpoint-job.js'

export interface Checkpointer {
  close: () => Promise<void>
}

export function startCheckpointer(
  file: string,
  synchronous: 'full' | 'normal',
  onError: (message: string) => void,
  intervalMs = 250
): Checkpointer {
  const data: CheckpointJobData = { file, synchronous: synchronous === 'full' ? 'FULL' : 'NORMAL', intervalMs }
  let failed = false
  const job = startJob(new URL('./checkpoint-job.js', import.meta.url), data, message => {
    failed = true
    onError(message)
  })
  job.port.on('message', (m: { error?: string }) => {
    if (m.error !== undefined) onError(m.error)
  })
  return {
    close: async () => {
      if (!failed)
        await new Promise<void>(resolve => {
          const t = setTimeout(resolve, 2000)
          job.port.once('message', () => {
            clearTimeout(t)
            resolve()
          })
          job.port.postMessage('close')
        })
      job.end()
    }
  }
}
