/**
 * Control records: the gateway's own account of its sequence numbers, sent in the batch topic as their
 * own messages (README "Control records"). Pure. A ledger record covers the seqs (from, through] and
 * says: every seq in it that is in no batch was dropped at the edge (listed here, per device and
 * reason) or never held a reading (a gap, with its reason). Its totals are the gateway's lifetime
 * counts at the time it was written.
 */
import { array, cborInt, fail, int, type Int, text } from './check.js'

/** Why a stored reading (one with a seq) never reached Kafka. */
export const FATE_REASONS = ['quota_drop_oldest', 'disk_drop_oldest', 'compacted', 'rollup_only'] as const
export type FateReason = (typeof FATE_REASONS)[number]

export interface DroppedRun {
  device: string
  reason: string
  /** Ascending. */
  seqs: number[]
}
export interface SeqGap {
  first: number
  last: number
  reason: string
}
export interface DeviceTotals {
  device: string
  /** Readings (not rollups) Kafka acknowledged, lifetime. */
  released: number
  /** Readings dropped, lifetime, by reason (with a seq or refused before one was given). */
  dropped: Record<string, number>
}
export interface LedgerRecord {
  type: 'ledger'
  gatewayId: string
  /** Exclusive: the previous ledger's `through` (0 for the first). */
  from: number
  /** Inclusive: every seq ≤ through is settled (in a batch, dropped here or earlier, or a gap). */
  through: number
  timeMs: number
  dropped: DroppedRun[]
  gaps: SeqGap[]
  devices: DeviceTotals[]
  /** Gateway lifetime totals: stored, forwarded, forwardedRollups, dropped.<reason>. */
  totals: Record<string, number>
}
export type ControlRecord = LedgerRecord

/** The CBOR map of a ledger record (the third item of a control body). */
export function ledgerToCbor(r: LedgerRecord): Record<string, unknown> {
  return {
    type: 'ledger',
    from: cborInt(r.from),
    through: cborInt(r.through),
    time: cborInt(r.timeMs),
    dropped: r.dropped.map(d => [d.device, d.reason, deltas(d.seqs)]),
    gaps: r.gaps.map(g => [cborInt(g.first), cborInt(g.last), g.reason]),
    devices: r.devices.map(d => [d.device, cborInt(d.released), d.dropped]),
    totals: r.totals
  }
}

export function controlFromCbor(gatewayId: string, m: unknown): ControlRecord {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return fail('control record is not a map')
  const o = m as Record<string, unknown>
  if (o.type !== 'ledger') return fail(`unknown control record type ${String(o.type)}`)
  const counts = (v: unknown, what: string): Record<string, number> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(`${what} is not a map`)
    const out: Record<string, number> = {}
    for (const [k, n] of Object.entries(v)) out[k] = int(n, what)
    return out
  }
  const from = int(o.from, 'ledger from')
  const through = int(o.through, 'ledger through')
  if (through < from) fail('ledger through < from')
  return {
    type: 'ledger',
    gatewayId,
    from,
    through,
    timeMs: int(o.time, 'ledger time'),
    dropped: array(o.dropped, 'ledger dropped').map(d => {
      const e = array(d, 'dropped entry', 3)
      return { device: text(e[0], 'device'), reason: text(e[1], 'reason'), seqs: undelta(e[2]) }
    }),
    gaps: array(o.gaps, 'ledger gaps').map(g => {
      const e = array(g, 'gap entry', 3)
      return { first: int(e[0], 'gap first'), last: int(e[1], 'gap last'), reason: text(e[2], 'reason') }
    }),
    devices: array(o.devices, 'ledger devices').map(d => {
      const e = array(d, 'device entry', 3)
      return { device: text(e[0], 'device'), released: int(e[1], 'released'), dropped: counts(e[2], 'dropped') }
    }),
    totals: counts(o.totals, 'totals')
  }
}

function deltas(seqs: readonly number[]): Int[] {
  let prev = 0
  return seqs.map(s => {
    const d = cborInt(s - prev)
    prev = s
    return d
  })
}

function undelta(v: unknown): number[] {
  let s = 0
  return array(v, 'dropped seqs').map(d => {
    const next = s + int(d, 'dropped seq')
    if (next <= s && s !== 0) fail('dropped seqs not ascending')
    s = next
    return s
  })
}
