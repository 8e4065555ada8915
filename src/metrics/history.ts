/**
 * Rates over the last hour for the page's charts: every `stepMs` the cumulative counters are
 * sampled and the difference to the previous sample becomes one point (readings per second).
 * Also the rates right now and each device's receive rate, for the page's figures and table.
 */
import type { Counters } from './counters.js'
import { naturalCompare } from '../text.js'

export interface RatePoint {
  /** End of the step, epoch ms. */
  t: number
  /** Readings stored per second (entered the buffer). */
  ingest: number
  /** Readings forwarded (acknowledged by the uplink) per second. */
  forward: number
  /** Readings dropped per second, all reasons. */
  drop: number
  /** Buffered readings at the end of the step. */
  backlog: number
  /** Readings dropped during the step, by reason (only reasons that occurred). */
  drops?: Record<string, number>
  /** Connections, logins, subscriptions refused during the step, by reason (only those that occurred). */
  refused?: Record<string, number>
}

interface Totals {
  t: number
  stored: number
  forwarded: number
  dropped: number
  byReason: Record<string, number>
  refused: Record<string, number>
}

const sumDropped = (c: { dropped: Partial<Record<string, number>> }): number => {
  let n = 0
  for (const k in c.dropped) n += c.dropped[k as keyof typeof c.dropped] ?? 0
  return n
}
/** How far back drops are kept by device: the verdict names the devices of the last minute. */
const DEVICE_DROPS_SPAN_MS = 60_000
const round2 = (n: number): number => Math.round(n * 100) / 100

export class RateHistory {
  private readonly ring: RatePoint[] = []
  private readonly max: number
  private last: Totals
  /** The sample before `last` (or the start): "now" rates are measured from here, over 1-2 steps. */
  private anchor: Totals
  private lastDevice = new Map<string, number>()
  /** Each device's drops (all reasons) at the last sample, for the devices that ever dropped one. */
  private lastDeviceDrops = new Map<string, number>()
  /** Readings dropped per device in each sample step of the last minute (steps with drops only). */
  private readonly deviceDrops: Array<{ t: number; byDevice: Map<string, number> }> = []
  private anchorDevice = new Map<string, number>()
  private timer: NodeJS.Timeout | null = null
  private readonly listeners: Array<(p: RatePoint) => void> = []

  constructor(
    private readonly counters: Counters,
    private readonly backlog: () => number,
    readonly stepMs = 5_000,
    spanMs = 3_600_000
  ) {
    this.max = Math.ceil(spanMs / stepMs)
    this.last = this.anchor = this.totals()
    for (const d of counters.devices.values()) {
      this.lastDevice.set(d.id, d.received)
      const dropped = sumDropped(d)
      if (dropped > 0) this.lastDeviceDrops.set(d.id, dropped)
    }
    this.anchorDevice = this.lastDevice
  }

  start(): void {
    if (this.timer !== null) return
    this.timer = setInterval(() => this.sample(), this.stepMs)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** Oldest first; at most one hour. */
  points(): readonly RatePoint[] {
    return this.ring
  }

  latest(): RatePoint | null {
    return this.ring[this.ring.length - 1] ?? null
  }

  /** Rates right now, measured over the last one to two steps (smooth, yet live between points). */
  current(): { ingest: number; forward: number; drop: number } {
    const now = this.totals()
    const dtS = Math.max(0.5, (now.t - this.anchor.t) / 1000)
    return {
      ingest: round2((now.stored - this.anchor.stored) / dtS),
      forward: round2((now.forwarded - this.anchor.forwarded) / dtS),
      drop: round2((now.dropped - this.anchor.dropped) / dtS)
    }
  }

  /** Readings per second a device sends now (`received` is its counter now), over the same window. */
  deviceRate(id: string, received: number): number {
    return this.deviceRates()(id, received)
  }

  /** deviceRate for many devices at one instant (the window's length read once). */
  deviceRates(): (id: string, received: number) => number {
    const dtS = Math.max(0.5, (Date.now() - this.anchor.t) / 1000)
    const anchor = this.anchorDevice
    return (id, received) => round2(Math.max(0, received - (anchor.get(id) ?? 0)) / dtS)
  }

  /** Drops (or refusals) by reason over the points of the last `ms`. */
  dropsWithin(ms: number, what: 'drops' | 'refused' = 'drops'): Record<string, number> {
    const out: Record<string, number> = {}
    const since = Date.now() - ms
    for (let i = this.ring.length - 1; i >= 0 && this.ring[i]!.t > since; i--) {
      for (const [r, n] of Object.entries(this.ring[i]![what] ?? {})) out[r] = (out[r] ?? 0) + n
    }
    return out
  }

  /** Readings dropped by each device over the samples of the last `ms` (at most a minute), most first. */
  droppersWithin(ms: number): Array<{ device: string; count: number }> {
    const since = Date.now() - ms
    const out = new Map<string, number>()
    for (let i = this.deviceDrops.length - 1; i >= 0 && this.deviceDrops[i]!.t > since; i--)
      for (const [id, n] of this.deviceDrops[i]!.byDevice) out.set(id, (out.get(id) ?? 0) + n)
    return [...out]
      .map(([device, count]) => ({ device, count }))
      .sort((a, b) => b.count - a.count || naturalCompare(a.device, b.device))
  }

  onPoint(listener: (p: RatePoint) => void): void {
    this.listeners.push(listener)
  }

  /** Take one sample now (the timer calls this; tests may too). */
  sample(): RatePoint {
    const now = this.totals()
    const dtS = Math.max(0.001, (now.t - this.last.t) / 1000)
    const p: RatePoint = {
      t: now.t,
      ingest: round2((now.stored - this.last.stored) / dtS),
      forward: round2((now.forwarded - this.last.forwarded) / dtS),
      drop: round2((now.dropped - this.last.dropped) / dtS),
      backlog: this.backlog()
    }
    for (const [reason, n] of Object.entries(now.byReason)) {
      const d = n - (this.last.byReason[reason] ?? 0)
      if (d > 0) (p.drops ??= {})[reason] = d
    }
    for (const [reason, n] of Object.entries(now.refused)) {
      const d = n - (this.last.refused[reason] ?? 0)
      if (d > 0) (p.refused ??= {})[reason] = d
    }
    this.anchor = this.last
    this.last = now
    const seen = new Map<string, number>()
    const byDevice = new Map<string, number>()
    for (const d of this.counters.devices.values()) {
      seen.set(d.id, d.received)
      const dropped = sumDropped(d)
      if (dropped === 0) continue
      const was = this.lastDeviceDrops.get(d.id) ?? 0
      if (dropped > was) byDevice.set(d.id, dropped - was)
      this.lastDeviceDrops.set(d.id, dropped)
    }
    if (byDevice.size > 0) this.deviceDrops.push({ t: now.t, byDevice })
    while (this.deviceDrops.length > 0 && this.deviceDrops[0]!.t <= now.t - DEVICE_DROPS_SPAN_MS)
      this.deviceDrops.shift()
    this.anchorDevice = this.lastDevice
    this.lastDevice = seen
    this.ring.push(p)
    if (this.ring.length > this.max) this.ring.shift()
    for (const l of this.listeners) l(p)
    return p
  }

  private totals(): Totals {
    const c = this.counters
    const refused = (c as { refused?: Record<string, number> }).refused ?? {}
    return {
      t: Date.now(),
      stored: c.stored,
      forwarded: c.forwarded,
      dropped: sumDropped(c),
      byReason: { ...c.dropped },
      refused: { ...refused }
    }
  }
}
