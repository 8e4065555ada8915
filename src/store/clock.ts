/**
 * Receive times for a box that may boot with a wrong wall clock (no RTC until NTP) or see the
 * clock stepped. Times come from the monotonic clock, anchored to the wall clock: a step of the
 * wall clock never reorders receive times. A step is followed only once it has held for
 * SETTLE_MS. If the box booted with a clock earlier than the newest stored reading, the clock
 * is `unsynced`: times continue from that reading; when the wall clock later steps forward and
 * settles, the readings received meanwhile are corrected by the step (as a correction record —
 * stored readings stay immutable; readers of the buffer see corrected times).
 */
export const SETTLE_MS = 5_000
/** Disagreement between wall and anchored time below this is drift, not a step. */
const STEP_MS = 1_000

export interface ClockCorrection {
  firstSeq: number
  lastSeq: number
  offsetMs: number
}
export type ClockState = 'synced' | 'unsynced'

export class ReceiveClock {
  state: ClockState
  steps = 0
  private anchorWall: number
  private anchorMono: number
  private candidate: { offsetMs: number; sinceMono: number } | null = null

  constructor(
    floorMs: number,
    private readonly wall: () => number = Date.now,
    private readonly mono: () => number = () => performance.now()
  ) {
    const now = wall()
    this.anchorMono = mono()
    this.state = now < floorMs ? 'unsynced' : 'synced'
    this.anchorWall = Math.max(now, floorMs)
  }

  now(): number {
    return Math.round(this.anchorWall + (this.mono() - this.anchorMono))
  }

  /**
   * Compare with the wall clock (call about once a second). Returns the offset to apply to
   * readings received while unsynced, when the clock has just become trustworthy; else null.
   */
  check(): number | null {
    const offset = this.wall() - this.now()
    if (Math.abs(offset) < STEP_MS) {
      // The wall clock agrees with the anchored time: trustworthy again, nothing to correct.
      this.candidate = null
      this.state = 'synced'
      return null
    }
    const m = this.mono()
    if (this.candidate === null || Math.abs(this.candidate.offsetMs - offset) >= STEP_MS) {
      this.candidate = { offsetMs: offset, sinceMono: m }
      return null
    }
    if (m - this.candidate.sinceMono < SETTLE_MS) return null
    // The step held: follow it.
    this.candidate = null
    this.steps++
    this.anchorWall += offset
    if (this.state === 'unsynced' && offset > 0) {
      this.state = 'synced'
      return offset
    }
    return null
  }
}
