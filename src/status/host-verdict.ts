/**
 * CPU and memory verdicts that say whose load it is — Holdfast's own or the rest of the host's —
 * and that do not flicker: a verdict starts above one threshold and ends only below a lower one,
 * judged once per host sample. Holdfast's own share comes from process.cpuUsage() and the
 * resident set size, measured between host samples (cheap; no system calls beyond those).
 */
import type { HostFacts } from '../metrics/host.js'
import { fmtBytes, type Problem } from './health.js'

export const CPU_ON_PCT = 95
export const CPU_OFF_PCT = 80
export const MEM_ON_PCT = 90
export const MEM_OFF_PCT = 85
/** Holdfast's own figure that makes it the one to blame (share of the host's capacity). */
const OWN_SHARE = 0.5

export interface ProcessFacts {
  /** Holdfast's CPU use, % of the whole host (all cores), over the last host sample's interval. */
  cpuPct: number | null
  rssBytes: number
  heapUsedBytes: number
}

export class HostVerdicts {
  private cpuBusy = false
  private memHigh = false
  private seen: string | null = null
  private lastCpu = process.cpuUsage()
  private lastAt = performance.now()
  private own: ProcessFacts = { cpuPct: null, rssBytes: process.memoryUsage.rss(), heapUsedBytes: 0 }

  constructor(private readonly cores: () => number) {}

  /** Holdfast's own use now (re-measured at most once a second). */
  process(): ProcessFacts {
    const now = performance.now()
    if (now - this.lastAt >= 1000) {
      const cpu = process.cpuUsage()
      const usedUs = cpu.user - this.lastCpu.user + (cpu.system - this.lastCpu.system)
      const pct = (usedUs / 1000 / (now - this.lastAt) / Math.max(1, this.cores())) * 100
      const m = process.memoryUsage()
      this.own = { cpuPct: Math.round(Math.min(100, pct) * 10) / 10, rssBytes: m.rss, heapUsedBytes: m.heapUsed }
      this.lastCpu = cpu
      this.lastAt = now
    }
    return this.own
  }

  /** The CPU and memory problems now; the thresholds move only when the host was sampled again. */
  problems(host: Readonly<HostFacts>): Problem[] {
    const own = this.process()
    if (host.sampledAt !== this.seen) {
      this.seen = host.sampledAt
      if (host.cpuLoadPct !== null)
        this.cpuBusy = this.cpuBusy ? host.cpuLoadPct >= CPU_OFF_PCT : host.cpuLoadPct >= CPU_ON_PCT
      if (host.memUsedPct !== null)
        this.memHigh = this.memHigh ? host.memUsedPct >= MEM_OFF_PCT : host.memUsedPct >= MEM_ON_PCT
    }
    const out: Problem[] = []
    if (this.cpuBusy && host.cpuLoadPct !== null) {
      const mine = own.cpuPct ?? 0
      const ours = mine >= host.cpuLoadPct * OWN_SHARE
      out.push({
        level: 'warn',
        code: 'cpu_busy',
        area: 'host',
        text: ours
          ? `Holdfast itself keeps the CPU busy (${mine}% of ${host.cpuLoadPct}%): the load is the gateway's own work`
          : `Host CPU ${host.cpuLoadPct}% busy, Holdfast only ${mine}%: another program is using it`
      })
    }
    if (this.memHigh && host.memUsedPct !== null) {
      const total = host.memTotalBytes ?? 0
      const ours = total > 0 && own.rssBytes >= total * (host.memUsedPct / 100) * OWN_SHARE
      out.push({
        level: 'warn',
        code: 'memory_high',
        area: 'host',
        text: ours
          ? `Memory ${host.memUsedPct}% used, most of it by Holdfast (${fmtBytes(own.rssBytes)})`
          : `Host memory ${host.memUsedPct}% used, Holdfast only ${fmtBytes(own.rssBytes)}: another program is using it`
      })
    }
    return out
  }
}
