/**
 * Reconciliation on the consumer side (README "Control records" → what a consumer can prove): feed it
 * every decoded message of the batch topic, in any order, and it tells per gateway and device what was
 * delivered, what the gateway says it dropped (and why), and what is missing. Pure; memory is one bit
 * per seq seen (sparse), not one object per reading.
 */
import type { DecodedMessage } from './batch.js'
import type { LedgerRecord } from './control.js'

const CHUNK_BITS = 16
const CHUNK = 1 << CHUNK_BITS

/** A sparse set of non-negative safe integers, one bit each. */
class SeqSet {
  private readonly chunks = new Map<number, Uint32Array>()
  /** Adds s; true when it was not there yet. */
  add(s: number): boolean {
    const c = Math.floor(s / CHUNK)
    let bits = this.chunks.get(c)
    if (bits === undefined) this.chunks.set(c, (bits = new Uint32Array(CHUNK / 32)))
    const i = s - c * CHUNK
    const mask = 1 << (i & 31)
    const w = bits[i >>> 5]!
    if ((w & mask) !== 0) return false
    bits[i >>> 5] = w | mask
    return true
  }
  /** How many members are above `x`. */
  countAbove(x: number): number {
    let n = 0
    for (const [c, bits] of this.chunks) {
      if ((c + 1) * CHUNK - 1 <= x) continue
      for (let w = 0; w < bits.length; w++) {
        let v = bits[w]!
        while (v !== 0) {
          const i = c * CHUNK + w * 32 + (31 - Math.clz32(v & -v))
          if (i > x) n++
          v &= v - 1
        }
      }
    }
    return n
  }
  has(s: number): boolean {
    const bits = this.chunks.get(Math.floor(s / CHUNK))
    if (bits === undefined) return false
    const i = s % CHUNK
    return (bits[i >>> 5]! & (1 << (i & 31))) !== 0
  }
}

export interface DeviceAccount {
  gateway: string
  device: string
  /** Distinct devices' readings seen. */
  delivered: number
  /** Distinct rollup records seen (made by the gateway for this device's topics). */
  rollups: number
  /** Readings the ledgers say were dropped at the edge, by reason (distinct seqs). */
  dropped: Record<string, number>
  /** The latest ledger's count of this device's readings Kafka acknowledged (null: not in any ledger). */
  released: number | null
  /** released − delivered when positive: readings the gateway released that are not in the topic. */
  missing: number
}

export interface GatewayAccount {
  gateway: string
  /** Ledger records seen, and the seq range they cover together: (from, through]. */
  ledgers: number
  from: number | null
  through: number | null
  /** Seq ranges between ledgers that no ledger covers (a ledger record is missing). */
  ledgerHoles: Array<[number, number]>
  delivered: number
  rollups: number
  dropped: Record<string, number>
  gaps: number
  /** Seqs in the covered range that are in no batch, no dropped list and no gap. */
  missing: number
  missingRanges: Array<[number, number]>
  /** Readings seen with a seq above `through` (not yet covered by a ledger). */
  unsettled: number
  duplicates: number
}

interface GatewayState {
  seen: SeqSet
  dropped: SeqSet
  droppedBy: Map<string, Map<string, number>>
  delivered: Map<string, number>
  rollups: Map<string, number>
  ledgers: LedgerRecord[]
  latest: Map<string, { released: number; through: number; timeMs: number }>
  seqs: number
  duplicates: number
}

export class Accountant {
  private readonly gateways = new Map<string, GatewayState>()
  undecodable = 0

  private state(gateway: string): GatewayState {
    let g = this.gateways.get(gateway)
    if (g === undefined)
      this.gateways.set(
        gateway,
        (g = {
          seen: new SeqSet(),
          dropped: new SeqSet(),
          droppedBy: new Map(),
          delivered: new Map(),
          rollups: new Map(),
          ledgers: [],
          latest: new Map(),
          seqs: 0,
          duplicates: 0
        })
      )
    return g
  }

  add(m: DecodedMessage): void {
    const g = this.state(m.gatewayId)
    if (m.control !== null) {
      this.ledger(g, m.control)
      return
    }
    for (const r of m.readings) {
      if (!g.seen.add(r.seq)) {
        g.duplicates++
        continue
      }
      g.seqs++
      const map = r.kind === 'rollup' ? g.rollups : g.delivered
      map.set(r.device, (map.get(r.device) ?? 0) + 1)
    }
  }

  private ledger(g: GatewayState, l: LedgerRecord): void {
    g.ledgers.push(l)
    for (const d of l.dropped) {
      let by = g.droppedBy.get(d.device)
      if (by === undefined) g.droppedBy.set(d.device, (by = new Map()))
      for (const s of d.seqs) if (g.dropped.add(s)) by.set(d.reason, (by.get(d.reason) ?? 0) + 1)
    }
    for (const d of l.devices) {
      const prev = g.latest.get(d.device)
      if (prev === undefined || l.through > prev.through || (l.through === prev.through && l.timeMs >= prev.timeMs))
        g.latest.set(d.device, { released: d.released, through: l.through, timeMs: l.timeMs })
    }
  }

  report(): { gateways: GatewayAccount[]; devices: DeviceAccount[] } {
    const gateways: GatewayAccount[] = []
    const devices: DeviceAccount[] = []
    for (const [gateway, g] of [...this.gateways].sort(([a], [b]) => a.localeCompare(b))) {
      // The covered range: the union of the ledgers' (from, through], and the holes in it.
      const ranges = g.ledgers.map(l => [l.from, l.through] as [number, number]).sort((a, b) => a[0] - b[0])
      const holes: Array<[number, number]> = []
      let from: number | null = null
      let through: number | null = null
      for (const [a, b] of ranges) {
        if (from === null || through === null) {
          from = a
          through = b
          continue
        }
        if (a > through) holes.push([through + 1, a])
        through = Math.max(through, b)
      }
      const gaps: Array<[number, number]> = g.ledgers
        .flatMap(l => l.gaps.map(x => [x.first, x.last] as [number, number]))
        .sort((a, b) => a[0] - b[0])
      let gapCount = 0
      for (const [a, b] of mergeRanges(gaps)) gapCount += b - a + 1
      const missingRanges: Array<[number, number]> = []
      let missing = 0
      if (from !== null && through !== null) {
        const merged = mergeRanges(gaps)
        let gi = 0
        for (let s = from + 1; s <= through; s++) {
          while (gi < merged.length && merged[gi]![1] < s) gi++
          if (gi < merged.length && merged[gi]![0] <= s) {
            s = merged[gi]![1]
            continue
          }
          if (g.seen.has(s) || g.dropped.has(s)) continue
          missing++
          const last = missingRanges[missingRanges.length - 1]
          if (last !== undefined && last[1] === s - 1) last[1] = s
          else missingRanges.push([s, s])
        }
      }
      // Holes between ledgers are unverified: count them as missing too (a ledger record is lost).
      for (const [a, b] of holes) missing += b - a + 1
      const unsettled = through === null ? g.seqs : g.seen.countAbove(through)
      const names = new Set([...g.delivered.keys(), ...g.rollups.keys(), ...g.droppedBy.keys(), ...g.latest.keys()])
      const droppedAll: Record<string, number> = {}
      let delivered = 0
      let rollups = 0
      for (const device of [...names].sort()) {
        const d = g.delivered.get(device) ?? 0
        const released = g.latest.get(device)?.released ?? null
        const dropped = Object.fromEntries(g.droppedBy.get(device) ?? [])
        for (const [k, n] of Object.entries(dropped)) droppedAll[k] = (droppedAll[k] ?? 0) + n
        delivered += d
        rollups += g.rollups.get(device) ?? 0
        devices.push({
          gateway,
          device,
          delivered: d,
          rollups: g.rollups.get(device) ?? 0,
          dropped,
          released,
          missing: released === null ? 0 : Math.max(0, released - d)
        })
      }
      gateways.push({
        gateway,
        ledgers: g.ledgers.length,
        from,
        through,
        ledgerHoles: holes,
        delivered,
        rollups,
        dropped: droppedAll,
        gaps: gapCount,
        missing,
        missingRanges: missingRanges.slice(0, 20),
        unsettled,
        duplicates: g.duplicates
      })
    }
    return { gateways, devices }
  }
}

function mergeRanges(ranges: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (const [a, b] of ranges) {
    const last = out[out.length - 1]
    if (last !== undefined && a <= last[1] + 1) last[1] = Math.max(last[1], b)
    else out.push([a, b])
  }
  return out
}
