/**
 * The per-address budget of failed logins (MQTT): a token bucket of `burst` failures refilled at
 * `perMin` a minute. A check still running counts against the budget as if it had failed, so 300
 * wrong secrets sent at once from one address start at most `burst` scrypt checks, not 300.
 * Logins past the room wait for the running checks rather than being refused at once: a success
 * gives its place back (a fleet behind one NAT address reconnecting after a restart gets through),
 * a failure spends a token, and once nothing is left and nothing runs the waiting ones are refused.
 */
import { TokenBucket } from './bucket.js'

/** Told true = check now (then call settle), false = refused: the address used its budget. */
export type Admit = (go: boolean) => void

interface Entry {
  bucket: TokenBucket
  inFlight: number
  waiting: Admit[]
}

/** Logins one address may have waiting for a place; past it they are refused like a spent budget. */
const MAX_WAITING = 1_000

export class LoginLimiter {
  private readonly entries = new Map<string, Entry>()
  private readonly rate: number

  constructor(
    perMin: number,
    private readonly burst: number,
    /** Addresses tracked at most: past it, idle refilled ones are forgotten, then all idle ones. */
    private readonly maxAddresses = 50_000
  ) {
    this.rate = perMin / 60
  }

  /** Ask for a check for `address`: `admit` is called now or when a running check settles. */
  begin(address: string, admit: Admit, now = Date.now()): void {
    const e = this.entry(address, now)
    if (e.waiting.length === 0 && e.bucket.level(now) - e.inFlight >= 1) {
      e.inFlight++
      return admit(true)
    }
    if (e.inFlight === 0 || e.waiting.length >= MAX_WAITING) return admit(false)
    e.waiting.push(admit)
  }

  /** A check admitted by begin() finished: a failure spends a token, a success only frees its place. */
  settle(address: string, ok: boolean, now = Date.now()): void {
    const e = this.entries.get(address)
    if (e === undefined) return
    e.inFlight = Math.max(0, e.inFlight - 1)
    if (!ok) e.bucket.tryTake(now)
    while (e.waiting.length > 0) {
      if (e.bucket.level(now) - e.inFlight >= 1) {
        e.inFlight++
        e.waiting.shift()!(true)
      } else if (e.inFlight === 0) {
        for (const w of e.waiting.splice(0)) w(false)
      } else break
    }
  }

  private entry(address: string, now: number): Entry {
    let e = this.entries.get(address)
    if (e === undefined) {
      if (this.entries.size >= this.maxAddresses) this.prune(now)
      e = { bucket: new TokenBucket(this.rate, this.burst, now), inFlight: 0, waiting: [] }
      this.entries.set(address, e)
    }
    return e
  }

  private prune(now: number): void {
    const idle = (e: Entry): boolean => e.inFlight === 0 && e.waiting.length === 0
    for (const [k, e] of this.entries) if (idle(e) && e.bucket.level(now) >= this.burst) this.entries.delete(k)
    if (this.entries.size >= this.maxAddresses) for (const [k, e] of this.entries) if (idle(e)) this.entries.delete(k)
  }
}
