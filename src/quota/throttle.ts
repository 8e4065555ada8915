/**
 * Rate quotas by backpressure: a device over its messages/s or bytes/s has its publishes held,
 * in arrival order, until its buckets allow them. The admission step holds aedes' authorizePublish
 * callback meanwhile, so the PUBACK waits and aedes stops reading that device's socket (TCP slows
 * the device down). Nothing is dropped here.
 */
import { TokenBucket } from './bucket.js'
import { Pacer } from './pacer.js'

export class Throttle extends Pacer {
  private msgs: TokenBucket
  private bytes: TokenBucket

  constructor(msgsPerS: number, msgsBurst: number, bytesPerS: number, bytesBurst: number) {
    super()
    const now = performance.now()
    this.msgs = new TokenBucket(msgsPerS, msgsBurst, now)
    this.bytes = new TokenBucket(bytesPerS, bytesBurst, now)
  }

  /** New rates (remote configuration), as fresh buckets; publishes already held keep their place and order. */
  retune(msgsPerS: number, msgsBurst: number, bytesPerS: number, bytesBurst: number): void {
    const now = performance.now()
    this.msgs = new TokenBucket(msgsPerS, msgsBurst, now)
    this.bytes = new TokenBucket(bytesPerS, bytesBurst, now)
  }

  /** One publish of `bytes` (payload and properties, src/broker/publish-cost.ts). */
  protected take(bytes: number, now: number): number {
    return Math.max(this.msgs.take(1, now), this.bytes.take(bytes, now))
  }

  protected giveBack(bytes: number, now: number): void {
    this.msgs.give(1, now)
    this.bytes.give(bytes, now)
  }
}
