/** Exponential backoff with full jitter: retries from many gateways do not arrive in lockstep. */
export class Backoff {
  private attempt = 0

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random
  ) {}

  /** The delay before the next try; grows with each consecutive failure. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 30))
    this.attempt++
    return Math.round(this.minMs / 2 + this.random() * (ceiling - this.minMs / 2))
  }

  reset(): void {
    this.attempt = 0
  }

  get failures(): number {
    return this.attempt
  }
}
