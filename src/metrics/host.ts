/**
 * Host health, gathered on the background thread (host-job.ts: host-sample.ts, host-read.ts) on a timer:
 * the status page and /metrics read the last sample and never wait for the operating system, and
 * nothing of it runs on the broker's thread (systeminformation spawns synchronous child processes).
 */
import { startJob, type BackgroundJob } from '../platform/background.js'
import type { HostJobData } from './host-job.js'
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

export class HostMonitor {
  private facts = emptyHostFacts()
  private job: BackgroundJob | null = null

  constructor(
    private readonly dataDir: string,
    private readonly intervalMs: number,
    private readonly log: Logger
  ) {}

  start(): void {
    if (this.job !== null) return
    const data: HostJobData = {
      dataDir: this.dataDir,
      intervalMs: this.intervalMs,
      slowEvery: Math.max(1, Math.round(30_000 / this.intervalMs))
    }
    // Host facts are nice to have: without the job the page shows the last sample (or none).
    this.job = startJob(new URL('./host-job.js', import.meta.url), data, message =>
      this.log.warn({ err: message, code: 'HF_WARN_HOST_FACTS' }, 'host facts job failed')
    )
    this.job.port.on('message', (m: { facts?: HostFacts; error?: string }) => {
      if (m.facts !== undefined) this.facts = m.facts
      else this.log.debug({ err: m.error }, 'host sample failed')
    })
  }

  stop(): void {
    this.job?.end()
    this.job = null
  }

  get(): Readonly<HostFacts> {
    return this.facts
  }
}
