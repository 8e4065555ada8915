/**
 * Host facts, a job on the background thread (platform/background.ts): samples on its own timer and
 * posts each sample to the broker's thread, which only keeps the last one. A sample that outlasts the
 * interval is never stacked on.
 */
import type { MessagePort } from 'node:worker_threads'
import { HostSampler } from './host-sample.js'

export interface HostJobData {
  dataDir: string
  intervalMs: number
  slowEvery: number
}

export function start(data: unknown, port: MessagePort): void {
  const { dataDir, intervalMs, slowEvery } = data as HostJobData
  const sampler = new HostSampler(dataDir, slowEvery)
  let running = false
  let open = true
  const sample = async (): Promise<void> => {
    if (running || !open) return
    running = true
    try {
      const facts = await sampler.sample()
      if (open) port.postMessage({ facts })
    } catch (err) {
      if (open) port.postMessage({ error: String((err as Error)?.message ?? err) })
    } finally {
      running = false
    }
  }
  void sample()
  const timer = setInterval(() => void sample(), intervalMs)
  port.on('close', () => {
    open = false
    clearInterval(timer)
  })
}
