/**
 * The uplink's state, kept honest: `connected` only while a produce or metadata request
 * succeeded recently; one failure makes it `degraded`, repeated failures or a long silence
 * `down`. A technician's pause is recorded as `paused`/`resumed`, on top of what the link
 * itself is doing: pausing never hides an outage, and the outage is measured from the last
 * delivery, not from the last state change. Also the drain rate, over a sliding window.
 */
import { uplinkCause } from './uplink-cause.js'

export type UplinkState = 'unconfigured' | 'connected' | 'degraded' | 'down' | 'paused'
/** What the link itself does, whether or not forwarding is paused. */
export type LinkState = Exclude<UplinkState, 'paused'>

export interface Transition {
  state: UplinkState | 'resumed'
  at: string
  /** Why, in words (the cause of a failure, or who paused). */
  reason: string | null
  /** The same cause seen again, without a state change: how many times, and when last. */
  times?: number
  lastAt?: string
}

/** The uplink as the status API, the page and the heartbeat show it. */
export interface UplinkView {
  /** `paused` while a technician paused forwarding; otherwise what the link does (`link`). */
  state: UplinkState
  /** The link's own state, also while paused. */
  link?: LinkState
  /** When `state` was entered (after a resume into an outage: the outage's start). */
  since: string
  /** Since when nothing was delivered (last success, or start-up); null while connected. Pausing never moves it. */
  outageSince?: string | null
  lastDeliveredAt?: string | null
  /** The raw error of the last failed request. */
  lastError: string | null
  /** The same failure in words, with the next step. */
  cause?: string | null
  drainRate: number
  etaS: number | null
  history?: ReadonlyArray<{ state: string; at: string; reason: string | null; times?: number; lastAt?: string }>
}

const DOWN_AFTER_FAILURES = 3
const HISTORY = 50
const RATE_WINDOW_MS = 10_000

export class Uplink {
  /** The link's own state (never `paused`). */
  link: LinkState
  paused = false
  /** When `state` was entered. */
  since: number
  lastError: string | null = null
  /** The last successful produce or metadata request; 0 = none since start. */
  lastSuccessMs = 0
  readonly startedMs = Date.now()
  private failures = 0
  readonly history: Transition[] = []
  private readonly acks: Array<{ at: number; n: number }> = []

  constructor(
    configured: boolean,
    private readonly staleAfterMs: number
  ) {
    this.link = configured ? 'down' : 'unconfigured'
    this.lastError = configured ? 'not connected yet' : null
    this.since = this.startedMs
    this.record(configured ? 'gateway started: connecting to Kafka' : 'no brokers configured (kafka.brokers)')
  }

  /** What the page and the API show: `paused` while a technician paused forwarding, else the link's state. */
  get state(): UplinkState {
    return this.paused ? 'paused' : this.link
  }

  /**
   * Since when nothing was delivered: the last success, or the start when there was none.
   * Null while the link is connected (or there is no uplink). A pause does not change it.
   */
  outageSinceMs(): number | null {
    if (this.link === 'connected' || this.link === 'unconfigured') return null
    return this.lastSuccessMs > 0 ? this.lastSuccessMs : this.startedMs
  }

  succeeded(readings = 0): void {
    const now = Date.now()
    this.lastSuccessMs = now
    this.failures = 0
    this.lastError = null
    if (readings > 0) {
      this.acks.push({ at: now, n: readings })
      this.trim(now)
    }
    this.moveLink('connected', null)
  }

  failed(error: string): void {
    this.failures++
    this.lastError = error
    const next = this.failures >= DOWN_AFTER_FAILURES || this.link === 'down' ? 'down' : 'degraded'
    this.moveLink(next, uplinkCause(error))
  }

  pause(paused: boolean): void {
    if (paused === this.paused) return
    this.paused = paused
    this.since = Date.now()
    this.push({
      state: paused ? 'paused' : 'resumed',
      at: new Date(this.since).toISOString(),
      reason: paused ? 'paused by technician' : `resumed by technician; uplink ${this.link}`
    })
    if (!paused) this.since = this.link === 'connected' ? this.since : (this.outageSinceMs() ?? this.since)
  }

  /** Called on a timer: a silent link is not a connected one. */
  tick(): void {
    if (this.link === 'connected' && !this.paused && Date.now() - this.lastSuccessMs > this.staleAfterMs) {
      this.moveLink('degraded', uplinkCause('no successful request recently'))
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

  /** The uplink as the status API shows it, with the time the `backlog` (readings) needs at the drain rate. */
  view(backlog: number): UplinkView {
    this.tick()
    const rate = this.drainRate()
    const outage = this.outageSinceMs()
    return {
      state: this.state,
      link: this.link,
      since: new Date(this.since).toISOString(),
      outageSince: outage === null ? null : new Date(outage).toISOString(),
      lastDeliveredAt: this.lastSuccessMs > 0 ? new Date(this.lastSuccessMs).toISOString() : null,
      lastError: this.lastError,
      cause: uplinkCause(this.lastError),
      drainRate: rate,
      etaS: backlog === 0 ? 0 : rate > 0 ? Math.round(backlog / rate) : null,
      history: this.history
    }
  }

  private trim(now: number): void {
    while (this.acks.length > 0 && now - this.acks[0]!.at > RATE_WINDOW_MS) this.acks.shift()
  }

  /**
   * A new link state is recorded; so is a new cause in the same state (start-up's "connecting"
   * followed by minutes of refused connections shows the refusals). The same cause again only
   * counts up, so the history is not flooded by retries.
   */
  private moveLink(state: LinkState, reason: string | null): void {
    const now = Date.now()
    // What the link does while forwarding is paused (a technician's test) is said to be so: the list
    // must not read as if forwarding had left the pause.
    if (this.paused && reason !== null && !reason.startsWith('while paused')) reason = `while paused: ${reason}`
    if (state === this.link) {
      const last = this.history[this.history.length - 1]
      if (reason === null || last === undefined) return
      if (last.state === state && last.reason === reason) {
        last.times = (last.times ?? 1) + 1
        last.lastAt = new Date(now).toISOString()
        return
      }
      if (last.state === state || last.state === 'resumed' || last.state === 'paused')
        this.push({ state, at: new Date(now).toISOString(), reason })
      return
    }
    this.link = state
    if (!this.paused) this.since = now
    this.push({ state, at: new Date(now).toISOString(), reason })
  }

  private record(reason: string | null): void {
    this.push({ state: this.state, at: new Date(this.since).toISOString(), reason })
  }

  private push(t: Transition): void {
    this.history.push(t)
    if (this.history.length > HISTORY) this.history.shift()
  }
}
