/**
 * Host health from systeminformation, sampled on a timer and cached: the status page and
 * /metrics read the last sample and never wait for the operating system.
 * Cheap facts (CPU load, memory, temperature) every `intervalMs`; disks and network
 * interfaces, which spawn `df`/read many files, every `slowEvery` samples.
 */
import { realpathSync } from 'node:fs'
import { statfs } from 'node:fs/promises'
import { loadavg, uptime } from 'node:os'
import si from 'systeminformation'
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

const round1 = (n: number): number => Math.round(n * 10) / 10

export class HostMonitor {
  private facts: HostFacts = {
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
  }

  private timer: NodeJS.Timeout | null = null
  private running = false
  private samples = 0
  private mount: { mount: string; fs: string } | null = null
  private readonly slowEvery: number

  constructor(
    private readonly dataDir: string,
    private readonly intervalMs: number,
    private readonly log: Logger
  ) {
    this.slowEvery = Math.max(1, Math.round(30_000 / intervalMs))
  }

  start(): void {
    if (this.timer !== null) return
    void this.sample()
    this.timer = setInterval(() => {
      void this.sample()
    }, this.intervalMs)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  get(): Readonly<HostFacts> {
    return this.facts
  }

  private async sample(): Promise<void> {
    // A slow OS call must not pile samples on top of each other.
    if (this.running) return
    this.running = true
    const slow = this.samples++ % this.slowEvery === 0
    try {
      const [load, mem, temp, os, fsList, nets, vfs] = await Promise.all([
        si.currentLoad().catch(() => null),
        si.mem().catch(() => null),
        si.cpuTemperature().catch(() => null),
        this.facts.os === null ? si.osInfo().catch(() => null) : Promise.resolve(null),
        slow ? si.fsSize().catch(() => null) : Promise.resolve(null),
        slow ? si.networkInterfaces().catch(() => null) : Promise.resolve(null),
        statfs(this.dataDir).catch(() => null)
      ])
      const f: HostFacts = { ...this.facts }
      // os.uptime(), not si.time(): the latter runs a synchronous child process (timezone) and
      // blocked the event loop — and every device's PUBACK — for 5-20 ms on each sample.
      f.uptimeS = Math.round(uptime())
      if (load !== null) {
        f.cpuLoadPct = round1(load.currentLoad)
        f.cores = load.cpus.length
        f.loadAvg = loadavg().map(round1) as [number, number, number]
      }
      if (mem !== null) {
        f.memTotalBytes = mem.total
        f.memAvailableBytes = mem.available
        f.memUsedPct = mem.total > 0 ? round1(100 * (1 - mem.available / mem.total)) : null
      }
      if (temp !== null) {
        const c = temp.main ?? temp.max ?? null
        f.temperatureC = typeof c === 'number' && Number.isFinite(c) && c > -50 ? round1(c) : null
      }
      if (os !== null) {
        f.hostname = os.hostname
        f.os = `${os.distro} ${os.release} (${os.kernel})`
      }
      if (vfs !== null) {
        const size = vfs.blocks * vfs.bsize
        const free = vfs.bavail * vfs.bsize
        if (fsList !== null) this.mount = this.mountOf(fsList)
        const mount = this.mount
        f.disk = {
          path: this.dataDir,
          mount: mount?.mount ?? null,
          fs: mount?.fs ?? null,
          sizeBytes: size,
          freeBytes: free,
          usedPct: size > 0 ? round1(100 * (1 - free / size)) : 0
        }
      }
      if (nets !== null) {
        f.network = nets
          .filter(n => n.ip4 !== '' || n.ip6 !== '')
          .map(n => ({
            iface: n.iface,
            ip4: n.ip4,
            ip6: n.ip6,
            mac: n.mac,
            state: n.operstate,
            speedMbps: n.speed,
            internal: n.internal
          }))
      }
      f.sampledAt = new Date().toISOString()
      this.facts = f
    } catch (err) {
      this.log.debug({ err }, 'host sample failed')
    } finally {
      this.running = false
    }
  }

  private mountOf(list: si.Systeminformation.FsSizeData[]): { mount: string; fs: string } | null {
    let dir = this.dataDir
    try {
      dir = realpathSync(this.dataDir)
    } catch {}
    let best: { mount: string; fs: string } | null = null
    for (const m of list) {
      const inside = dir === m.mount || dir.startsWith(m.mount.endsWith('/') ? m.mount : m.mount + '/')
      if (inside && (best === null || m.mount.length > best.mount.length))
        best = { mount: m.mount, fs: `${m.fs} (${m.type})` }
    }
    return best
  }
}
