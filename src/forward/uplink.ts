/**
 * The uplink's state, kept honest: `connected` only while a produce or metadata request
 * succeeded recently; one failure makes it `degraded`, repeated failures or a long silence
 * `down`. Also the drain rate, measured over a sliding window of acknowledged sends.
 */
export type UplinkState = 'unconfigured' | 'connected' | 'degraded' | 'down' | 'paused'

export interface Transition {
  state: UplinkState
  at: string
  reason: string | null
}

/** The uplink as the status API, the page and the heartbeat show it. */
export interface UplinkView {
  state: UplinkState
  since: string
  lastError: string | null
  drainRate: number
  etaS: number | null
  history?: ReadonlyArray<{ state: string; at: string; reason: string | null }>
}

const DOWN_AFTER_FAILURES = 3
const HISTORY = 50
const RATE_WINDOW_MS = 10_000

export class Uplink {
  state: UplinkState
  since: number
  lastError: string | null = null
  lastSuccessMs = 0
  private failures = 0
  readonly history: Transition[] = []
  private readonly acks: Array<{ at: number; n: number }> = []

  constructor(
    configured: boolean,
    private readonly staleAfterMs: number
  ) {
    this.state = configured ? 'down' : 'unconfigured'
    this.lastError = configured ? 'not connected yet' : null
    this.since = Date.now()
    this.record(configured ? 'starting' : 'no brokers configured')
  }

  succeeded(readings = 0): void {
    const now = Date.now()
    this.lastSuccessMs = now
    this.failures = 0
    if (readings > 0) {
      this.acks.push({ at: now, n: readings })
      this.trim(now)
    }
    if (this.state !== 'paused') this.move('connected', null)
  }

  failed(error: string): void {
    this.failures++
    this.lastError = error
    if (this.state === 'paused') return
    this.move(this.failures >= DOWN_AFTER_FAILURES || this.state === 'down' ? 'down' : 'degraded', error)
  }

  pause(paused: boolean): void {
    if (paused) this.move('paused', 'paused by technician')
    else this.move(this.failures > 0 ? 'degraded' : 'down', 'resumed by technician')
  }

  /** Called on a timer: a silent link is not a connected one. */
  tick(): void {
    if (this.state === 'connected' && Date.now() - this.lastSuccessMs > this.staleAfterMs) {
      this.move('degraded', 'no successful request recently')
    }
  }

  /** Readings acknowledged per second over the last 10 s. */
  drainRate(): number {
    const now = Date.now()
    this.trim(now)
    if (this.acks.length === 0) return 0
    const n = this.acks.reduce((s, a) => s + a.n, 0)
    const spanMs = Math.max(1000, Math.min(RATE_WINDOW_MS, now - this.acks[0]!.at + 1000))
    return Math.round((n * 1000) / spanMs)
  }

  private trim(now: number): void {
    while (this.acks.length > 0 && now - this.acks[0]!.at > RATE_WINDOW_MS) this.acks.shift()
  }

  private move(state: UplinkState, reason: string | null): void {
    if (state === this.state) return
    this.state = state
    this.since = Date.now()
    this.record(reason)
  }

  private record(reason: string | null): void {
    this.history.push({ state: this.state, at: new Date(this.since).toISOString(), reason })
    if (this.history.length > HISTORY) this.history.shift()
  }
}
