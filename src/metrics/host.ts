/**
 * Host health, gathered on a worker thread (host-worker.ts, systeminformation) on a timer: the
 * status page and /metrics read the last sample and never wait for the operating system, and
 * nothing of it runs on the broker's thread (systeminformation spawns synchronous child processes).
 */
import { Worker } from 'node:worker_threads'
import type { Logger } from '../log.js'

export interface HostFacts {
  sampledAt: string | null
  hostname: string | null
  os: string | null
  arch: string
  cores: number | null
  cpuLoadPct: number | null
  loadAvg: [number, number, number] | null
  memTotalBytes: number | null
  memAvailableBytes: number | null
  memUsedPct: number | null
  disk: {
    path: string
    mount: string | null
    fs: string | null
    sizeBytes: number
    freeBytes: number
    usedPct: number
  } | null
  temperatureC: number | null
  uptimeS: number | null
  network: Array<{
    iface: string
    ip4: string
    ip6: string
    mac: string
    state: string
    speedMbps: number | null
    internal: boolean
  }>
}

export const emptyHostFacts = (): HostFacts => ({
  sampledAt: null,
  hostname: null,
  os: null,
  arch: process.arch,
  cores: null,
  cpuLoadPct: null,
  loadAvg: null,
  memTotalBytes: null,
  memAvailableBytes: null,
  memUsedPct: null,
  disk: null,
  temperatureC: null,
  uptimeS: null,
  network: []
})

/** A small heap is plenty for a sample; it caps what the worker can take from the box. */
const WORKER_HEAP_MB = 24

export class HostMonitor {
  private facts = emptyHostFacts()
  private worker: Worker | null = null

  constructor(
    private readonly dataDir: string,
    private readonly intervalMs: number,
    private readonly log: Logger
  ) {}

  start(): void {
    if (this.worker !== null) return
    const slowEvery = Math.max(1, Math.round(30_000 / this.intervalMs))
    const w = new Worker(new URL('./host-worker.js', import.meta.url), {
      workerData: { dataDir: this.dataDir, intervalMs: this.intervalMs, slowEvery },
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 2 }
    })
    w.on('message', (m: { facts?: HostFacts; error?: string }) => {
      if (m.facts !== undefined) this.facts = m.facts
      else this.log.debug({ err: m.error }, 'host sample failed')
    })
    // Host facts are nice to have: without the worker the page shows the last sample (or none).
    w.on('error', err => this.log.warn({ err, code: 'HF_WARN_HOST_FACTS' }, 'host facts worker failed'))
    w.unref()
    this.worker = w
  }

  stop(): void {
    void this.worker?.terminate()
    this.worker = null
  }

  get(): Readonly<HostFacts> {
    return this.facts
  }
}
