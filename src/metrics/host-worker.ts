/**
 * The host-facts worker: samples on its own timer and posts each sample to the broker's thread,
 * which only keeps the last one. A sample that outlasts the interval is never stacked on.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { HostSampler } from './host-sample.js'

const { dataDir, intervalMs, slowEvery } = workerData as { dataDir: string; intervalMs: number; slowEvery: number }
const sampler = new HostSampler(dataDir, slowEvery)
let running = false

async function sample(): Promise<void> {
  if (running) return
  running = true
  try {
    parentPort!.postMessage({ facts: await sampler.sample() })
  } catch (err) {
    parentPort!.postMessage({ error: String((err as Error)?.message ?? err) })
  } finally {
    running = false
  }
}

void sample()
setInterval(() => void sample(), intervalMs)
