/**
 * The receive time each group commit stamps on its readings, and the corrections for readings
 * received while the clock was unsynced (see clock.ts). Stored rows are immutable: readers apply
 * `corrected` to what they read.
 */
import { ReceiveClock, type ClockCorrection } from './clock.js'
import type { DB } from './db.js'
import type { Meta } from './meta.js'

const PREFIX = 'clock:'

export class ReceiveTimes {
  readonly clock: ReceiveClock
  private last: number
  /** Usually empty. */
  private readonly corrections: ClockCorrection[] = []

  /** `firstSeqThisBoot`: readings from here on were received by this run's clock. */
  constructor(
    db: DB,
    private readonly meta: Meta,
    private readonly firstSeqThisBoot: number
  ) {
    const newest = db.prepare('SELECT recv_ms FROM readings ORDER BY seq DESC LIMIT 1').pluck().get() as
      | number
      | undefined
    this.last = newest ?? 0
    this.clock = new ReceiveClock(Math.max(this.last, meta.get('last_recv_ms') ?? 0))
    for (const r of meta.withPrefix(PREFIX)) {
      const [first, last] = r.key.slice(PREFIX.length).split('-').map(Number)
      this.corrections.push({ firstSeq: first!, lastSeq: last!, offsetMs: r.value })
    }
  }

  /** The time of the next group commit: never earlier than the last one, whatever the wall clock does. */
  stamp(): number {
    this.last = Math.max(this.clock.now(), this.last)
    return this.last
  }

  /** The receive time readers see for a stored row. */
  corrected(seq: number, recvMs: number): number {
    return correct(this.corrections, seq, recvMs)
  }

  /** The corrections so far (the forwarder's read worker applies them to what it reads). */
  list(): readonly ClockCorrection[] {
    return this.corrections
  }

  /**
   * Follow the wall clock (call once a second). When a box that booted unsynced gets the right
   * time, the readings it received meanwhile (up to `lastSeq`) get a correction record; returns it, or null.
   */
  tick(lastSeq: number): ClockCorrection | null {
    const offset = this.clock.check()
    if (offset === null) return null
    // Receive times stay ordered: nothing received from now on may sort before the corrected ones.
    this.last += offset
    if (lastSeq < this.firstSeqThisBoot) return null
    const c = { firstSeq: this.firstSeqThisBoot, lastSeq, offsetMs: offset }
    this.meta.put(`${PREFIX}${c.firstSeq}-${c.lastSeq}`, offset)
    this.corrections.push(c)
    return c
  }
}

/** A receive time read back, with the correction that covers its seq (if any). */
export function correct(corrections: readonly ClockCorrection[], seq: number, recvMs: number): number {
  if (corrections.length === 0) return recvMs
  for (const c of corrections) if (seq >= c.firstSeq && seq <= c.lastSeq) return recvMs + c.offsetMs
  return recvMs
}
