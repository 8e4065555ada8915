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

/** A device's in-memory counts that are flushed (drops the buffer's fates count are not among them). */
interface Counts {
  received: number
  stored: number
  duplicates: number
  dropped: Record<string, number>
}

export class LifetimeTotals {
  /** Per device, the in-memory counts already written. */
  private readonly written = new Map<string, Counts>()
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

  /** The in-memory counts of one device. */
  private memory(id: string): Counts | null {
    const d = this.counters.devices.get(id)
    if (d === undefined) return null
    const dropped: Record<string, number> = {}
    for (const [reason, n] of Object.entries(d.dropped)) if (!FATE_DROPS.has(reason)) dropped[reason] = n ?? 0
    return { received: d.received, stored: d.stored, duplicates: d.duplicates, dropped }
  }

  /** Write what the counters gained since the last flush. */
  flush(): void {
    const deltas = new Map<string, Map<string, number>>()
    const nows = new Map<string, Counts>()
    for (const id of this.counters.devices.keys()) {
      const now = this.memory(id)!
      const before = this.written.get(id)
      const d = new Map<string, number>()
      const put = (k: string, v: number, was: number | undefined): void => {
        if (v - (was ?? 0) !== 0) d.set(k, v - (was ?? 0))
      }
      put('received', now.received, before?.received)
      put('stored', now.stored, before?.stored)
      put('duplicates', now.duplicates, before?.duplicates)
      for (const [reason, n] of Object.entries(now.dropped)) put(`dropped:${reason}`, n, before?.dropped[reason])
      if (d.size > 0) {
        deltas.set(id, d)
        nows.set(id, now)
      }
    }
    if (deltas.size === 0) return
    try {
      this.ledger.flushCounts(deltas)
      for (const [id, now] of nows) this.written.set(id, now)
    } catch {
      // A failed write (disk full) is retried at the next flush: the deltas are still owed.
    }
  }

  /** Per device: persisted totals plus what is not yet written (no SQL: the ledger mirrors its table). */
  devices(): Map<string, LifetimeView> {
    const out = new Map<string, LifetimeView>()
    const stored = this.ledger.totals()
    for (const [id, t] of stored) out.set(id, this.viewOf(id, t))
    for (const id of this.counters.devices.keys()) if (!stored.has(id)) out.set(id, this.viewOf(id, undefined))
    return out
  }

  private viewOf(id: string, t: ReadonlyMap<string, number> | undefined): LifetimeView {
    const v = view(t)
    const d = this.counters.devices.get(id)
    if (d === undefined) return v
    const w = this.written.get(id)
    v.received += d.received - (w?.received ?? 0)
    v.stored += d.stored - (w?.stored ?? 0)
    v.duplicates += d.duplicates - (w?.duplicates ?? 0)
    const dropped = d.dropped as Record<string, number>
    for (const reason in dropped)
      if (!FATE_DROPS.has(reason))
        v.dropped[reason] = (v.dropped[reason] ?? 0) + dropped[reason]! - (w?.dropped[reason] ?? 0)
    return v
  }

  /** Gateway-wide: the sum over devices. */
  gateway(devices: ReadonlyMap<string, LifetimeView> = this.devices()): LifetimeView {
    const sum = view(undefined)
    for (const d of devices.values()) {
      sum.received += d.received
      sum.stored += d.stored
      sum.forwarded += d.forwarded
      sum.forwardedRollups += d.forwardedRollups
      sum.duplicates += d.duplicates
      sum.compacted += d.compacted
      sum.rollupOnly += d.rollupOnly
      for (const k in d.dropped) sum.dropped[k] = (sum.dropped[k] ?? 0) + d.dropped[k]!
    }
    return sum
  }
}

function view(t: ReadonlyMap<string, number> | undefined): LifetimeView {
  const dropped: Record<string, number> = {}
  if (t !== undefined) {
    let names: string[] | null = null
    for (const k of t.keys())
      if (k.startsWith('dropped:') && k !== 'dropped:compacted' && k !== 'dropped:rollup_only') (names ??= []).push(k)
    // In name order, as the table lists them.
    if (names !== null) for (const k of names.sort()) dropped[k.slice(8)] = t.get(k)!
  }
  return {
    received: t?.get('received') ?? 0,
    stored: t?.get('stored') ?? 0,
    forwarded: t?.get('released') ?? 0,
    forwardedRollups: t?.get('released_rollups') ?? 0,
    duplicates: t?.get('duplicates') ?? 0,
    dropped,
    compacted: t?.get('dropped:compacted') ?? 0,
    rollupOnly: t?.get('dropped:rollup_only') ?? 0
  }
}
