/**
 * Pacing by backpressure: work over its token buckets is held, in arrival order, until they allow
 * it. Callers hold an aedes callback meanwhile, so aedes stops reading that client's socket and
 * TCP slows it. Nothing is dropped here. One FIFO and at most one timer per pacer.
 * Subclasses say how long one piece of work must wait (throttle.ts, filter-rate.ts).
 */
interface Held {
  at: number
  go: () => void
}

export abstract class Pacer {
  private queue: Held[] = []
  private head = 0
  private timer: NodeJS.Timeout | undefined
  private lastAt = 0
  /** Work held now, and ever held since start. */
  held = 0
  throttled = 0

  /** Take the tokens `cost` needs at `now` (ms); the ms to wait before it may go (0 = now). */
  protected abstract take(cost: number, now: number): number

  /**
   * Take the tokens for one piece of work. True: go now. False: the caller must call hold() with
   * what to run once within the rates again, after everything held before it.
   * (Split in two so the common case allocates no closure.)
   */
  pass(cost: number): boolean {
    const now = performance.now()
    const wait = this.take(cost, now)
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
