/**
 * Pacing by backpressure: work over its token buckets is held, in arrival order, until they allow
 * it. Callers hold an aedes callback meanwhile, so aedes stops reading that client's socket and
 * TCP slows it. Nothing is dropped here. One FIFO and at most one timer per pacer.
 * Subclasses say how long one piece of work must wait (throttle.ts, filter-rate.ts).
 */

/** One piece of held work; `go` is null once it has run or was cancelled. */
export interface Held {
  at: number
  cost: number
  go: (() => void) | null
}

export abstract class Pacer {
  private queue: Held[] = []
  private head = 0
  private timer: NodeJS.Timeout | undefined
  private releasing = false
  private lastAt = 0
  private lastCost = 0
  /** Work held now, and ever held since start. */
  held = 0
  throttled = 0

  /** Take the tokens `cost` needs at `now` (ms); the ms to wait before it may go (0 = now). */
  protected abstract take(cost: number, now: number): number

  /** Give back the tokens take() took for `cost` (held work that will never run). */
  protected abstract giveBack(cost: number, now: number): void

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
    this.lastCost = cost
    return false
  }

  /** Hold the work pass() refused; the answer may be given to cancel(). */
  hold(go: () => void): Held {
    this.held++
    this.throttled++
    const h: Held = { at: this.lastAt, cost: this.lastCost, go }
    this.queue.push(h)
    if (this.timer === undefined && !this.releasing) this.arm(performance.now())
    return h
  }

  /**
   * Held work that will never run (its client closed): it leaves the queue and gives back the tokens
   * it took when held, so it does not make the work after it, or the device's next connection, wait.
   * (Tokens are taken when the work is held, not when it runs: its release time, and so the order of
   * everything held after it, comes from the bucket's debt.)
   */
  cancel(h: Held): void {
    if (h.go === null) return
    h.go = null
    this.held--
    const now = performance.now()
    this.giveBack(h.cost, now)
    if (this.releasing) return
    clearTimeout(this.timer)
    this.timer = undefined
    this.next(now)
  }

  private arm(now: number): void {
    const next = this.queue[this.head]!
    this.timer = setTimeout(this.release, Math.max(0, next.at - now))
  }

  /** Drop cancelled work at the head, then wait for the first that is left. */
  private next(now: number): void {
    while (this.head < this.queue.length && this.queue[this.head]!.go === null)
      this.queue[this.head++] = undefined as unknown as Held
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
      return
    }
    if (this.head > 1024) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
    this.arm(now)
  }

  private readonly release = (): void => {
    this.timer = undefined
    const now = performance.now()
    this.releasing = true
    try {
      // Timers may fire a little early or late; release everything due, in order.
      while (this.head < this.queue.length) {
        const h = this.queue[this.head]!
        if (h.go !== null && h.at > now + 1) break
        this.queue[this.head++] = undefined as unknown as Held
        const go = h.go
        if (go === null) continue
        h.go = null
        this.held--
        go()
      }
    } finally {
      this.releasing = false
      this.next(now)
    }
  }
}
