/** What every status route may use: settings, sessions, live views, actions. Built once in server.ts. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Config } from '../config/schema.js'
import type { LogRing } from '../log-ring.js'
import type { Logger } from '../log.js'
import type { HostMonitor } from '../metrics/host.js'
import type { RateHistory } from '../metrics/history.js'
import type { GatewayMetrics } from '../metrics/prometheus.js'
import type { Actions } from './actions.js'
import type { LoginLimiter, Session, Sessions } from './auth.js'
import type { StatusDocument } from './document.js'
import type { EventHub } from './sse.js'
import type { StatusSources } from './snapshot.js'

export interface Ctx {
  config: Readonly<Config>
  sources: StatusSources
  ready: () => { ok: boolean; checks: Record<string, boolean> }
  log: Logger
  logs: LogRing
  actions: Actions
  sessions: Sessions
  limiter: LoginLimiter
  host: HostMonitor
  history: RateHistory
  metrics: GatewayMetrics
  hub: EventHub
  /** The document now, built on the spot (whole: for the diagnostics bundle and the heartbeat). */
  document: () => StatusDocument
  /** /api/status as UTF-8 pieces: captured when called (or shared with callers just before), built in slices. */
  statusText: () => Promise<Buffer[]>
  /** Removes configured secret values from text that leaves the gateway. */
  scrub: (text: string) => string
  stats: { loginFailures: number }
}

/**
 * Who may call a route: `open` anyone; `view` the read-only views (public, or logged in);
 * `metrics` like view, or with the bearer token; `tech` a logged-in technician, and for POST
 * also the session's CSRF token from our own origin.
 */
export type Access = 'open' | 'view' | 'metrics' | 'tech'

export interface Request {
  req: IncomingMessage
  res: ServerResponse
  session: Session | null
  /** Parsed body of a POST (JSON object or form fields); {} otherwise. */
  body: Record<string, unknown>
  address: string
}

export interface Route {
  method: 'GET' | 'POST'
  path: string
  access: Access
  handle: (r: Request, ctx: Ctx) => void | Promise<void>
}
