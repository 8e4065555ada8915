/**
 * The uplink budget: bytes the gateway may send per UTC day and, optionally, per UTC hour. Bytes are
 * counted per acknowledged produce request as an estimate of what crosses the link: the request's
 * keys, headers and values compressed together (deflate level 1, a little above the producer's gzip),
 * plus 64 bytes per request and 24 per message for Kafka's framing. Failed requests are not counted.
 * Usage survives restarts (kept in the buffer's meta table).
 *
 * `share()` is the larger of day and hour use as a share of their budgets; priority classes give way
 * at their own shares (rollupOnlyAt, holdAt; src/forward/priority.ts). The projection for a period is
 * what was used plus the average rate since the period began (or since start-up, if later) times what
 * is left of it.
 */
import { deflateRawSync, constants } from 'node:zlib'
import type { Message } from 'kafkajs'
import type { PriorityClasses } from './priority.js'

const DAY_MS = 86_400_000
const HOUR_MS = 3_600_000
const REQUEST_OVERHEAD = 64
const MESSAGE_OVERHEAD = 24

export interface BudgetStore {
  get: (key: string) => number | undefined
  set: (entries: Record<string, number>) => void
}

interface Period {
  name: 'day' | 'hour'
  lengthMs: number
  limit: number
  start: number
  used: number
  usedSinceBoot: number
}

export interface BudgetPeriodView {
  budgetBytes: number
  usedBytes: number
  remainingBytes: number
  projectedBytes: number
  share: number
  periodStart: string
  periodEnd: string
}

export class UplinkBudget {
  readonly enabled: boolean
  private readonly periods: Period[] = []
  private readonly startedMs: number

  constructor(
    limits: { bytesPerDay: number; bytesPerHour: number },
    private readonly store: BudgetStore | null,
    now = Date.now()
  ) {
    this.startedMs = now
    if (limits.bytesPerDay > 0) this.periods.push(this.period('day', DAY_MS, limits.bytesPerDay, now))
    if (limits.bytesPerHour > 0) this.periods.push(this.period('hour', HOUR_MS, limits.bytesPerHour, now))
    this.enabled = this.periods.length > 0
  }

  /** Used share of the tightest period, counting `extra` planned bytes as spent. */
  share(now = Date.now(), extra = 0): number {
    let s = 0
    for (const p of this.periods) {
      this.roll(p, now)
      s = Math.max(s, (p.used + extra) / p.limit)
    }
    return s
  }

  /** Bytes that may still be spent (beyond `extra`) before the share reaches `at`, in the tightest period. */
  headroom(at: number, now = Date.now(), extra = 0): number {
    let h = Infinity
    for (const p of this.periods) {
      this.roll(p, now)
      h = Math.min(h, at * p.limit - p.used - extra)
    }
    return h
  }

  spend(bytes: number, now = Date.now()): void {
    if (!this.enabled || bytes <= 0) return
    const entries: Record<string, number> = {}
    for (const p of this.periods) {
      this.roll(p, now)
      p.used += bytes
      p.usedSinceBoot += bytes
      entries[`budget_${p.name}_start`] = p.start
      entries[`budget_${p.name}_bytes`] = p.used
    }
    this.store?.set(entries)
  }

  /** Estimated bytes on the link for a produce request of `messages`. */
  estimate(messages: readonly Message[]): number {
    if (messages.length === 0) return 0
    const parts: Buffer[] = []
    for (const m of messages) {
      if (m.key != null) parts.push(Buffer.from(m.key as string | Buffer))
      for (const [k, v] of Object.entries(m.headers ?? {})) parts.push(Buffer.from(k), Buffer.from(String(v)))
      if (m.value != null) parts.push(m.value as Buffer)
    }
    return (
      deflateRawSync(Buffer.concat(parts), { level: constants.Z_BEST_SPEED }).length +
      REQUEST_OVERHEAD +
      MESSAGE_OVERHEAD * messages.length
    )
  }

  view(now = Date.now()): { day: BudgetPeriodView | null; hour: BudgetPeriodView | null; share: number } {
    const out: { day: BudgetPeriodView | null; hour: BudgetPeriodView | null; share: number } = {
      day: null,
      hour: null,
      share: this.share(now)
    }
    for (const p of this.periods) {
      this.roll(p, now)
      const since = Math.max(p.start, this.startedMs)
      const elapsed = Math.max(60_000, now - since)
      const rate = p.usedSinceBoot / elapsed
      const projected = Math.round(p.used + rate * Math.max(0, p.start + p.lengthMs - now))
      out[p.name] = {
        budgetBytes: p.limit,
        usedBytes: p.used,
        remainingBytes: Math.max(0, p.limit - p.used),
        projectedBytes: projected,
        share: Math.round((p.used / p.limit) * 1000) / 1000,
        periodStart: new Date(p.start).toISOString(),
        periodEnd: new Date(p.start + p.lengthMs).toISOString()
      }
    }
    return out
  }

  private period(name: 'day' | 'hour', lengthMs: number, limit: number, now: number): Period {
    const start = Math.floor(now / lengthMs) * lengthMs
    const savedStart = this.store?.get(`budget_${name}_start`)
    const used = savedStart === start ? (this.store?.get(`budget_${name}_bytes`) ?? 0) : 0
    return { name, lengthMs, limit, start, used, usedSinceBoot: 0 }
  }

  private roll(p: Period, now: number): void {
    const start = Math.floor(now / p.lengthMs) * p.lengthMs
    if (start !== p.start) {
      p.start = start
      p.used = 0
      p.usedSinceBoot = 0
    }
  }
}

/** What the budget does to a class right now. */
export type ClassState = 'normal' | 'rollups-only' | 'held'

export interface ClassStateView {
  name: string
  priority: number
  state: ClassState
  exempt: boolean
  rollupOnlyAt: number
  holdAt: number
}

/** Per class, what `budget` (null: none, or disabled) does to it now (for /api/status). */
export function classStates(classes: PriorityClasses, budget: UplinkBudget | null): ClassStateView[] {
  const share = budget?.share() ?? 0
  return classes.classes.map(c => ({
    name: c.name,
    priority: c.priority,
    exempt: c.exempt,
    rollupOnlyAt: c.rollupOnlyAt,
    holdAt: c.holdAt,
    state:
      budget === null || c.exempt
        ? 'normal'
        : share >= c.holdAt
          ? 'held'
          : share >= c.rollupOnlyAt
            ? 'rollups-only'
            : 'normal'
  }))
}
