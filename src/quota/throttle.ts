/**
 * Rate quotas by backpressure: a device over its messages/s or bytes/s has its publishes held,
 * in arrival order, until its buckets allow them. The admission step holds aedes' authorizePublish
 * callback meanwhile, so the PUBACK waits and aedes stops reading that device's socket (TCP slows
 * the device down). Nothing is dropped here. One FIFO and at most one timer per device.
 */
import { TokenBucket } from './bucket.js'

interface Held {
  at: number
  go: () => void
}

export class Throttle {
  private msgs: TokenBucket
  private bytes: TokenBucket
  private queue: Held[] = []
  private head = 0
  private timer: NodeJS.Timeout | undefined
  /** Publishes held now, and ever held since start. */
  held = 0
  throttled = 0

  constructor(msgsPerS: number, msgsBurst: number, bytesPerS: number, bytesBurst: number) {
    const now = performance.now()
    this.msgs = new TokenBucket(msgsPerS, msgsBurst, now)
    this.bytes = new TokenBucket(bytesPerS, bytesBurst, now)
  }

  private lastAt = 0

  /** New rates (remote configuration), as fresh buckets; publishes already held keep their place and order. */
  retune(msgsPerS: number, msgsBurst: number, bytesPerS: number, bytesBurst: number): void {
    const now = performance.now()
    this.msgs = new TokenBucket(msgsPerS, msgsBurst, now)
    this.bytes = new TokenBucket(bytesPerS, bytesBurst, now)
  }

  /**
   * Take the tokens for one publish. True: go now. False: the caller must call hold() with what to
   * run once the device is within its rates again, after every publish held before it.
   * (Split in two so the common case allocates no closure.)
   */
  pass(payloadBytes: number): boolean {
    const now = performance.now()
    const wait = Math.max(this.msgs.take(1, now), this.bytes.take(payloadBytes, now))
    if (wait === 0 && this.held === 0) return true
    this.lastAt = now + wait
    return false
  }

  hold(go: () => void): void {
    this.held++
    this.throttled++
    this.queue.push({ at: this.lastAt, go })
    if (this.timer === undefined) this.arm(performance.now())
  }

  private arm(now: number): void {
    const next = this.queue[this.head]!
    this.timer = setTimeout(this.release, Math.max(0, next.at - now))
  }

  private readonly release = (): void => {
    this.timer = undefined
    const now = performance.now()
    // Timers may fire a little early or late; release everything due, in order.
    while (this.head < this.queue.length && this.queue[this.head]!.at <= now + 1) {
      const h = this.queue[this.head]!
      this.queue[this.head++] = undefined as unknown as Held
      this.held--
      h.go()
    }
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    } else {
      if (this.head > 1024) {
        this.queue = this.queue.slice(this.head)
        this.head = 0
      }
      this.arm(now)
    }
  }
}
