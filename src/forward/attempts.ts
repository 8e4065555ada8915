/** drainNow's callers, waiting for the outcome of the forwarder's next send or probe. */
export class Attempts {
  private waiting: Array<(ok: boolean) => void> = []

  /** Resolves after the next send or probe ends (true: it succeeded), or after `ms` (null). */
  next(ms: number): Promise<boolean | null> {
    return new Promise(resolve => {
      const timer = setTimeout(() => {
        this.waiting = this.waiting.filter(w => w !== done)
        resolve(null)
      }, ms)
      const done = (ok: boolean): void => {
        clearTimeout(timer)
        resolve(ok)
      }
      this.waiting.push(done)
    })
  }

  /** A send or probe ended: tell everyone waiting. */
  ended(ok: boolean): void {
    const waiting = this.waiting
    this.waiting = []
    for (const w of waiting) w(ok)
  }
}
