/**
 * The HTTP side: health probes, the status API, the technicians' page with its live feed and
 * actions, and /metrics. Only reads snapshots of the running parts, and acts only through
 * the `Actions` it is given. Routes live in routes/; who may call what is decided here, once.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Config } from '../config/schema.js'
import { processLogRing, type LogRing } from '../log-ring.js'
import type { Logger } from '../log.js'
import { HostMonitor } from '../metrics/host.js'
import { RateHistory } from '../metrics/history.js'
import { GatewayMetrics } from '../metrics/prometheus.js'
import { VERSION } from '../version.js'
import { noUplinkActions, type Actions } from './actions.js'
import { LoginLimiter, SESSION_COOKIE, Sessions, safeEqual } from './auth.js'
import type { Ctx, Route } from './context.js'
import { secretScrubber } from './diagnostics.js'
import { pageHead, pageRow, type StatusDocument, statusDocument } from './document.js'
import { documentText } from './document-text.js'
import { BodyTooLarge, clientAddress, fail, json, parseCookies, readBody, SERVER_TIMEOUTS, sameOrigin } from './http.js'
import { actionRoutes } from './routes/actions.js'
import { pageRoutes } from './routes/page.js'
import { probeRoutes } from './routes/probes.js'
import { sessionRoutes } from './routes/session.js'
import { MAX_STREAMS, viewRoutes } from './routes/views.js'
import type { StatusSources } from './snapshot.js'
import { budgetFigures } from '../metrics/budget-figures.js'
import { HostVerdicts } from './host-verdict.js'
import { SharedBuild } from './shared-build.js'
import { EventHub } from './sse.js'

export interface HttpOptions {
  host: string
  port: number
  sources: StatusSources
  ready: () => { ok: boolean; checks: Record<string, boolean> }
  log: Logger
  /** The validated configuration: status.* settings, the data dir for host facts, the diagnostics bundle. */
  config: Readonly<Config>
  /** What the technician's buttons do; the forwarder implements it. */
  actions?: Actions
  /** Recent log lines for the page and diagnostics; default the process's ring. */
  logs?: LogRing
}

const MAX_BODY_BYTES = 16 * 1024

/** The HTTP server, and the status document it serves (the remote heartbeat is built from the same one). */
export type StatusServer = Server & { statusDocument: () => StatusDocument }

export async function startHttp(opts: HttpOptions): Promise<StatusServer> {
  const { config, log } = opts
  const st = config.status
  const host = new HostMonitor(config.dataDir, st.hostIntervalMs, log)
  const history = new RateHistory(opts.sources.counters, () => opts.sources.buffer.usage.usageTotal().readings)
  const sessions = new Sessions(st.sessionTtlMs)
  const hostVerdicts = new HostVerdicts(() => host.get().cores ?? 1)
  const stats = { loginFailures: 0 }
  const scrub = secretScrubber(config)
  const document = (): StatusDocument =>
    statusDocument({ sources: opts.sources, config, host, history, logs: ctx.logs, ready: opts.ready, hostVerdicts })
  // Captured at once, written out in slices (document-text.ts); callers meanwhile share the next build.
  const apiText = new SharedBuild(() => documentText(document(), null, text => Buffer.from(scrub(text))))
  const pageText = new SharedBuild(async () => (await documentText(pageHead(document()), pageRow, scrub)).join(''))
  const ctx: Ctx = {
    config,
    sources: opts.sources,
    ready: opts.ready,
    log,
    logs: opts.logs ?? processLogRing,
    actions: opts.actions ?? noUplinkActions,
    sessions,
    limiter: new LoginLimiter(st.loginMaxFailures, st.loginWindowMs),
    host,
    history,
    metrics: new GatewayMetrics({
      gatewayId: config.gatewayId,
      version: VERSION,
      counters: opts.sources.counters,
      buffer: opts.sources.buffer,
      uplink: opts.sources.uplink,
      forward: opts.sources.forward,
      mqtt: opts.sources.mqtt,
      quotaOf: opts.sources.quotaOf,
      host: () => host.get(),
      budget: () => budgetFigures(opts.sources.budget?.(), opts.sources.aggregation?.()),
      web: () => ({ sessions: sessions.size, loginFailures: stats.loginFailures }),
      maxDevices: st.metricsMaxDevices
    }),
    hub: new EventHub({
      intervalMs: st.pushIntervalMs,
      maxClients: MAX_STREAMS,
      build: () => pageText.get(),
      onError: err => log.error({ err }, 'live status build failed'),
      allowed: id => st.public || sessions.get(id ?? undefined) !== null
    }),
    document,
    statusText: () => apiText.get(),
    scrub,
    stats
  }
  history.onPoint(p => ctx.hub.broadcast('point', JSON.stringify(p)))

  const routes = new Map<string, Route[]>()
  for (const r of [...probeRoutes, ...pageRoutes, ...sessionRoutes, ...viewRoutes, ...actionRoutes]) {
    routes.set(r.path, [...(routes.get(r.path) ?? []), r])
  }

  let closing = false
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Stopping: a page reconnecting on a kept-alive socket gets no answer built from a closing store.
    if (closing) return fail(res, 503, 'HF_ERR_STOPPING')
    const path = (req.url ?? '/').split('?')[0]!
    const candidates = routes.get(path)
    if (candidates === undefined) return json(res, 404, { error: 'not found' })
    const method = req.method === 'HEAD' ? 'GET' : req.method
    const route = candidates.find(r => r.method === method)
    if (route === undefined)
      return json(res, 405, { error: 'method not allowed' }, { allow: candidates.map(r => r.method).join(', ') })

    const session = sessions.get(parseCookies(req.headers.cookie).get(SESSION_COOKIE))
    const address = clientAddress(req)
    const mayView = st.public || session !== null
    if (route.access === 'view' && !mayView) return fail(res, 401, 'HF_ERR_LOGIN_REQUIRED')
    if (route.access === 'metrics' && !mayView && !bearerOk(req, st.metricsToken)) {
      return fail(res, 401, 'HF_ERR_LOGIN_REQUIRED', 'login or a bearer token required', {
        'www-authenticate': 'Bearer realm="holdfast"'
      })
    }
    if (route.access === 'tech' && session === null) return fail(res, 401, 'HF_ERR_LOGIN_REQUIRED')

    let body: Record<string, unknown> = {}
    if (route.method === 'POST') {
      try {
        body = parseBody(req, await readBody(req, MAX_BODY_BYTES))
      } catch (err) {
        return err instanceof BodyTooLarge
          ? json(res, 413, { error: err.message })
          : json(res, 400, { error: 'malformed body' })
      }
      if (route.access === 'tech') {
        const token = req.headers['x-csrf-token'] ?? body.csrf
        if (!sameOrigin(req) || typeof token !== 'string' || !safeEqual(token, session!.csrf)) {
          log.warn(
            { code: 'HF_ERR_CSRF', address, path },
            'technician action refused: missing or wrong CSRF token, or cross-site'
          )
          return fail(res, 403, 'HF_ERR_CSRF')
        }
      }
    }
    await route.handle({ req, res, session, body, address }, ctx)
  }

  const server = createServer(SERVER_TIMEOUTS, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err, path: req.url }, 'http handler failed')
      if (!res.headersSent) json(res, 500, { error: 'internal error' })
      else res.destroy()
    })
  })
  server.keepAliveTimeout = 5_000
  // Live streams never end by themselves: end them, and the samplers, when the server closes,
  // so close() completes instead of waiting for every open page.
  const close = server.close.bind(server)
  server.close = (cb?: (err?: Error) => void) => {
    closing = true
    ctx.hub.closeAll()
    host.stop()
    history.stop()
    return close(cb)
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  host.start()
  history.start()
  if (!st.public && st.passwordHash === '') {
    log.warn(
      { code: 'HF_ERR_LOGIN_UNAVAILABLE' },
      'status page locked: no technician password (status.passwordHash) and status.public is off; /healthz and /readyz stay open'
    )
  }
  log.info({ host: opts.host, port: opts.port, public: st.public }, 'http listening')
  return Object.assign(server, { statusDocument: () => ctx.document() })
}

function bearerOk(req: IncomingMessage, token: string): boolean {
  if (token === '') return false
  const h = req.headers.authorization
  return typeof h === 'string' && h.startsWith('Bearer ') && safeEqual(h.slice(7).trim(), token)
}

function parseBody(req: IncomingMessage, text: string): Record<string, unknown> {
  if (text === '') return {}
  const type = String(req.headers['content-type'] ?? '')
  if (type.startsWith('application/json')) {
    const v = JSON.parse(text) as unknown
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object')
    return v as Record<string, unknown>
  }
  if (type.startsWith('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text))
  return {}
}
