/**
 * Lifetime totals that survive restarts (README "Status API" → `lifetime`). Releases and the fates of
 * stored readings (drop-oldest, compaction, rollup-only) are written by the buffer in the transaction
 * that did them, so they are exact. Counts kept in memory (received, stored, duplicates, refusals at
 * admission) are written every `flushMs` and at shutdown: a crash loses at most that much of them.
 */
import type { SeqLedger } from '../store/ledger.js'
import type { Counters } from './counters.js'

/** Drop reasons the buffer's fates already count (an eviction): not flushed from the counters again. */
const FATE_DROPS = new Set(['quota_drop_oldest', 'disk_drop_oldest'])

export interface LifetimeView {
  received: number
  stored: number
  forwarded: number
  forwardedRollups: number
  duplicates: number
  /** Readings dropped, by reason: refused at admission, or stored and then dropped (drop-oldest). */
  dropped: Record<string, number>
  /** Raw readings replaced by compacted rollups. */
  compacted: number
  /** Raw readings of rollup-only topics, kept on the box and never forwarded (their rollups stand for them). */
  rollupOnly: number
}

export class LifetimeTotals {
  /** Per device, the in-memory counts already written. */
  private readonly written = new Map<string, Map<string, number>>()
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly counters: Counters,
    private readonly ledger: SeqLedger
  ) {}

  start(flushMs: number): void {
    this.timer = setInterval(() => this.flush(), flushMs)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    this.flush()
  }

  /** The in-memory counts of one device, by total name. */
  private memory(id: string): Map<string, number> {
    const d = this.counters.devices.get(id)
    const m = new Map<string, number>()
    if (d === undefined) return m
    m.set('received', d.received)
    m.set('stored', d.stored)
    m.set('duplicates', d.duplicates)
    for (const [reason, n] of Object.entries(d.dropped)) if (!FATE_DROPS.has(reason)) m.set(`dropped:${reason}`, n ?? 0)
    return m
  }

  /** Write what the counters gained since the last flush. */
  flush(): void {
    const deltas = new Map<string, Map<string, number>>()
    for (const id of this.counters.devices.keys()) {
      const now = this.memory(id)
      const before = this.written.get(id)
      const d = new Map<string, number>()
      for (const [k, v] of now) {
        const n = v - (before?.get(k) ?? 0)
        if (n !== 0) d.set(k, n)
      }
      if (d.size > 0) deltas.set(id, d)
    }
    if (deltas.size === 0) return
    try {
      this.ledger.flushCounts(deltas)
      for (const id of deltas.keys()) this.written.set(id, this.memory(id))
    } catch {
      // A failed write (disk full) is retried at the next flush: the deltas are still owed.
    }
  }

  /** Per device: persisted totals plus what is not yet written. */
  devices(): Map<string, LifetimeView> {
    const out = new Map<string, LifetimeView>()
    const stored = this.ledger.totals()
    const ids = new Set([...stored.keys(), ...this.counters.devices.keys()])
    for (const id of ids) {
      const t = new Map(stored.get(id) ?? [])
      const mem = this.memory(id)
      const was = this.written.get(id)
      for (const [k, v] of mem) t.set(k, (t.get(k) ?? 0) + v - (was?.get(k) ?? 0))
      out.set(id, view(t))
    }
    return out
  }

  /** Gateway-wide: the sum over devices. */
  gateway(devices: ReadonlyMap<string, LifetimeView> = this.devices()): LifetimeView {
    const sum = view(new Map())
    for (const d of devices.values()) {
      sum.received += d.received
      sum.stored += d.stored
      sum.forwarded += d.forwarded
      sum.forwardedRollups += d.forwardedRollups
      sum.duplicates += d.duplicates
      sum.compacted += d.compacted
      sum.rollupOnly += d.rollupOnly
      for (const [k, n] of Object.entries(d.dropped)) sum.dropped[k] = (sum.dropped[k] ?? 0) + n
    }
    return sum
  }
}

function view(t: ReadonlyMap<string, number>): LifetimeView {
  const dropped: Record<string, number> = {}
  for (const [k, v] of t)
    if (k.startsWith('dropped:') && k !== 'dropped:compacted' && k !== 'dropped:rollup_only') dropped[k.slice(8)] = v
  return {
    received: t.get('received') ?? 0,
    stored: t.get('stored') ?? 0,
    forwarded: t.get('released') ?? 0,
    forwardedRollups: t.get('released_rollups') ?? 0,
    duplicates: t.get('duplicates') ?? 0,
    dropped,
    compacted: t.get('dropped:compacted') ?? 0,
    rollupOnly: t.get('dropped:rollup_only') ?? 0
  }
}
