/**
 * Token buckets per key (a source address), bounded in memory: buckets that have refilled are
 * forgotten, and if a flood of distinct addresses still fills the map it is cleared (failing open
 * for a moment rather than growing without bound).
 */
import { TokenBucket } from './bucket.js'

export class KeyedBuckets {
  private readonly buckets = new Map<string, TokenBucket>()

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly maxKeys = 50_000
  ) {}

  /** Take one token for `key`; false when it has none (the caller refuses). */
  tryTake(key: string, now: number): boolean {
    return this.bucket(key, now).tryTake(now)
  }

  /** True when `key` has no whole token left. */
  exhausted(key: string, now: number): boolean {
    const b = this.buckets.get(key)
    return b !== undefined && b.level(now) < 1
  }

  private bucket(key: string, now: number): TokenBucket {
    let b = this.buckets.get(key)
    if (b === undefined) {
      if (this.buckets.size >= this.maxKeys) this.prune(now)
      this.buckets.set(key, (b = new TokenBucket(this.rate, this.burst, now)))
    }
    return b
  }

  private prune(now: number): void {
    for (const [k, b] of this.buckets) if (b.level(now) >= this.burst) this.buckets.delete(k)
    if (this.buckets.size >= this.maxKeys) this.buckets.clear()
  }
}
