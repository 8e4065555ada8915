/**
 * A token bucket that may go into debt: taking more than it holds is allowed and answers how long
 * until the balance is back to zero. Successive takers therefore get non-decreasing release times,
 * which is what keeps a held device's readings in order (see throttle.ts).
 */
export class TokenBucket {
  private tokens: number
  private last: number

  /** `rate` tokens per second, at most `burst` saved up. */
  constructor(
    readonly rate: number,
    readonly burst: number,
    now: number
  ) {
    this.tokens = burst
    this.last = now
  }

  /** Take `cost` tokens at time `now` (ms); returns the ms to wait before acting (0 = now). */
  take(cost: number, now: number): number {
    this.refill(now)
    this.tokens -= cost
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000
  }

  /** Give back `cost` tokens taken for work that never ran (at most up to the burst). */
  give(cost: number, now: number): void {
    this.refill(now)
    this.tokens = Math.min(this.burst, this.tokens + cost)
  }

  /** Take one token only if there is one (no debt): admission control rather than pacing. */
  tryTake(now: number): boolean {
    this.refill(now)
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }

  /** Tokens available now (negative while in debt). */
  level(now: number): number {
    this.refill(now)
    return this.tokens
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate)
      this.last = now
    }
  }
}
