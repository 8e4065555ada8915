/**
 * One worker thread for the gateway's slow, periodic jobs (WAL checkpoints, host facts): each job is a
 * module that runs there (background-worker.ts) and talks to its owner over a port of its own. One V8
 * isolate for all of them, instead of one each (an isolate costs about 8 MB of RSS). The thread starts
 * with the first job and ends with the last.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads'

/** What a job module exports: started on the background thread with its data and its port. */
export type JobStart = (data: unknown, port: MessagePort) => void

export interface BackgroundJob {
  /** The job's end of the conversation: unref'd, so it never keeps the process alive by itself. */
  readonly port: MessagePort
  /** The job is done: its port closes, and the thread ends if it was the last one. */
  end(): void
}

/** Heap for every job together: host facts (systeminformation) is the largest, a few MB. */
const HEAP_MB = 24

interface Shared {
  worker: Worker
  failures: Set<(message: string) => void>
}
let shared: Shared | null = null

function thread(): Shared {
  if (shared !== null) return shared
  const worker = new Worker(new URL('./background-worker.js', import.meta.url), {
    resourceLimits: { maxOldGenerationSizeMb: HEAP_MB, maxYoungGenerationSizeMb: 2 }
  })
  const s: Shared = { worker, failures: new Set() }
  const fail = (message: string): void => {
    if (shared === s) shared = null
    for (const f of [...s.failures]) f(message)
    s.failures.clear()
  }
  worker.on('error', err => fail(err.message))
  worker.on('exit', code => fail(`background thread exited (code ${code})`))
  worker.unref()
  shared = s
  return s
}

/**
 * Run the job `module` exports (a JobStart as its `start`) on the background thread. `onFailure`: the
 * job or the whole thread failed (it will not run again; the owner falls back or goes without).
 */
export function startJob(module: URL, data: unknown, onFailure: (message: string) => void): BackgroundJob {
  const s = thread()
  const { port1, port2 } = new MessageChannel()
  let ended = false
  const failed = (message: string): void => {
    if (ended) return
    ended = true
    port1.close()
    onFailure(message)
  }
  s.failures.add(failed)
  port1.on('message', (m: { jobFailed?: string }) => {
    if (m?.jobFailed !== undefined) failed(m.jobFailed)
  })
  // After the first listener (which refs a port); the owner's listeners added later leave it unref'd.
  port1.unref()
  s.worker.postMessage({ module: module.href, data, port: port2 }, [port2])
  return {
    port: port1,
    end: () => {
      if (ended) return
      ended = true
      s.failures.delete(failed)
      port1.close()
      if (s.failures.size === 0 && shared === s) {
        shared = null
        void s.worker.terminate()
      }
    }
  }
}
