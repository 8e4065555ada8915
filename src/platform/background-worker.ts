/**
 * The background thread (background.ts): starts each job module it is sent, with the job's own port.
 * A job that cannot start says so on its port; the other jobs go on.
 */
import { parentPort, type MessagePort } from 'node:worker_threads'
import type { JobStart } from './background.js'

parentPort!.on('message', (m: { module: string; data: unknown; port: MessagePort }) => {
  import(m.module).then(
    (mod: { start: JobStart }) => {
      try {
        mod.start(m.data, m.port)
      } catch (err) {
        m.port.postMessage({ jobFailed: String((err as Error)?.message ?? err) })
      }
    },
    (err: unknown) => m.port.postMessage({ jobFailed: String((err as Error)?.message ?? err) })
  )
})
