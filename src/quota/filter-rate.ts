/**
 * The subscription rate quota: topic filters per second a device or app account may SUBSCRIBE or
 * UNSUBSCRIBE, one token each. A client cycling thousands of filters otherwise kept the broker's
 * thread busy re-indexing them and raised every other device's PUBACK latency. Over it a packet is
 * held (src/broker/subscribe-rate.ts), never refused.
 */
import { TokenBucket } from './bucket.js'
import { Pacer } from './pacer.js'

export class FilterRate extends Pacer {
  private filters: TokenBucket

  constructor(perS: number, burst: number) {
    super()
    this.filters = new TokenBucket(perS, burst, performance.now())
  }

  /** New rates (remote configuration), as a fresh bucket; packets already held keep their place. */
  retune(perS: number, burst: number): void {
    if (perS !== this.filters.rate || burst !== this.filters.burst)
      this.filters = new TokenBucket(perS, burst, performance.now())
  }

  protected take(filters: number, now: number): number {
    return this.filters.take(filters, now)
  }

  protected giveBack(filters: number, now: number): void {
    this.filters.give(filters, now)
  }
}
