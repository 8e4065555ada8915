/**
 * One sample of host health: memory, the OS and file systems from systeminformation, the CPU load,
 * temperature and network interfaces read from /proc and /sys (host-read.ts: systeminformation starts
 * child processes for those). Several of systeminformation's calls run synchronous child processes or read
 * many files, so this runs only on the background thread (host-job.ts), never on the broker's thread.
 * Cheap facts (CPU load, memory, temperature) every sample; disks and network interfaces every
 * `slowEvery` samples.
 */
import { realpathSync } from 'node:fs'
import { statfs } from 'node:fs/promises'
import { loadavg, uptime } from 'node:os'
import si from 'systeminformation'
import { emptyHostFacts, type HostFacts } from './host.js'
import { CpuLoad, readNetwork, readTemperature } from './host-read.js'

const round1 = (n: number): number => Math.round(n * 10) / 10

export class HostSampler {
  private facts: HostFacts = emptyHostFacts()
  private samples = 0
  private mount: { mount: string; fs: string } | null = null
  private readonly cpu = new CpuLoad()

  constructor(
    private readonly dataDir: string,
    private readonly slowEvery: number
  ) {}

  async sample(): Promise<HostFacts> {
    const slow = this.samples++ % this.slowEvery === 0
    const [load, mem, temp, os, fsList, nets, vfs] = await Promise.all([
      this.cpu.read(),
      si.mem().catch(() => null),
      readTemperature(),
      this.facts.os === null ? si.osInfo().catch(() => null) : Promise.resolve(null),
      slow ? si.fsSize().catch(() => null) : Promise.resolve(null),
      slow ? readNetwork().catch(() => null) : Promise.resolve(null),
      statfs(this.dataDir).catch(() => null)
    ])
    const f: HostFacts = { ...this.facts }
    // os.uptime(), not si.time(): the latter runs a synchronous child process (timezone).
    f.uptimeS = Math.round(uptime())
    if (load !== null) {
      f.cpuLoadPct = round1(load.pct)
      f.cores = load.cores
      f.loadAvg = loadavg().map(round1) as [number, number, number]
    }
    if (mem !== null) {
      f.memTotalBytes = mem.total
      f.memAvailableBytes = mem.available
      f.memUsedPct = mem.total > 0 ? round1(100 * (1 - mem.available / mem.total)) : null
    }
    f.temperatureC = temp === null ? null : round1(temp)
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
    if (nets !== null) f.network = nets
    f.sampledAt = new Date().toISOString()
    this.facts = f
    return f
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
