/**
 * Ledger control records (README "Control records"): every `intervalMs`, once the buffer's settled
 * seq has moved on, one message states for the seqs (from, through] which were dropped at the edge
 * (per device and reason) and which never held a reading, with the lifetime totals of the devices whose
 * totals changed. Sent alone, between produce requests, keyed by the gateway like its batches; the
 * fates it covers are forgotten only once Kafka acknowledged it.
 */
import { encodeControl } from '../codec/batch.js'
import type { BatchMessage } from '../codec/types.js'
import type { DeviceTotals, DroppedRun, LedgerRecord } from '../codec/control.js'
import type { LifetimeTotals, LifetimeView } from '../metrics/lifetime.js'
import type { ReadingBuffer } from '../store/buffer.js'

/** At most this many dropped seqs per record (a few hundred kB); more go in the next record at once. */
const MAX_FATES = 50_000

export interface PreparedLedger {
  message: BatchMessage
  record: LedgerRecord
  sent: Map<string, string>
}

export class LedgerEmitter {
  private lastMs = 0
  /** Per device, the totals last sent (JSON): a device is listed again only when they changed. */
  private sentTotals = new Map<string, string>()

  constructor(
    private readonly gatewayId: string,
    private readonly buffer: ReadingBuffer,
    private readonly lifetime: LifetimeTotals,
    public intervalMs: number
  ) {}

  /** Ms until a ledger record is due, or null when there is nothing new to account for. */
  dueInMs(now: number): number | null {
    const ledger = this.buffer.seqLedger
    if (ledger.settledThrough(this.buffer.writer.lastSeq()) <= ledger.ledgerThrough()) return null
    return Math.max(0, this.lastMs + this.intervalMs - now)
  }

  prepare(now: number): PreparedLedger | null {
    const ledger = this.buffer.seqLedger
    const from = ledger.ledgerThrough()
    let through = ledger.settledThrough(this.buffer.writer.lastSeq())
    if (through <= from) return null
    const fates = ledger.fates(from, through, MAX_FATES + 1)
    if (fates.length > MAX_FATES) {
      fates.length = MAX_FATES
      through = fates[MAX_FATES - 1]!.seq
    }
    const runs = new Map<string, DroppedRun>()
    for (const f of fates) {
      const device = this.buffer.deviceName(f.device)
      const key = `${device}\u0000${f.reason}`
      let run = runs.get(key)
      if (run === undefined) runs.set(key, (run = { device, reason: f.reason, seqs: [] }))
      run.seqs.push(f.seq)
    }
    const gaps = ledger
      .gaps(through)
      .filter(g => g.last > from)
      .map(g => ({ first: Math.max(g.first, from + 1), last: Math.min(g.last, through), reason: g.reason }))
    const all = this.lifetime.devices()
    const devices: DeviceTotals[] = []
    const sent = new Map<string, string>()
    for (const [device, v] of all) {
      const entry = { device, released: v.forwarded, dropped: droppedOf(v) }
      const json = JSON.stringify(entry)
      if (this.sentTotals.get(device) === json) continue
      devices.push(entry)
      sent.set(device, json)
    }
    const g = this.lifetime.gateway(all)
    const totals: Record<string, number> = {
      stored: g.stored,
      forwarded: g.forwarded,
      forwardedRollups: g.forwardedRollups,
      buffered: this.buffer.usage.usageTotal().readings
    }
    for (const [reason, n] of Object.entries(droppedOf(g))) totals[`dropped.${reason}`] = n
    const record: LedgerRecord = {
      type: 'ledger',
      gatewayId: this.gatewayId,
      from,
      through,
      timeMs: now,
      dropped: [...runs.values()],
      gaps,
      devices,
      totals
    }
    return { message: encodeControl(record), record, sent }
  }

  /** Kafka acknowledged the record. */
  acked(p: PreparedLedger, now: number): void {
    this.buffer.seqLedger.settled(p.record.through)
    for (const [d, json] of p.sent) this.sentTotals.set(d, json)
    this.lastMs = now
  }
}

/** Every reason a reading was not forwarded, in one map (compaction and rollup-only included). */
function droppedOf(v: LifetimeView): Record<string, number> {
  const out: Record<string, number> = { ...v.dropped }
  if (v.compacted > 0) out.compacted = v.compacted
  if (v.rollupOnly > 0) out.rollup_only = v.rollupOnly
  return out
}
