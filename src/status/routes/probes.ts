/** Liveness and readiness: always open, for systemd, container runtimes and load balancers. */
import { json } from '../http.js'
import type { Route } from '../context.js'

export const probeRoutes: Route[] = [
  { method: 'GET', path: '/healthz', access: 'open', handle: ({ res }) => json(res, 200, { ok: true }) },
  {
    method: 'GET',
    path: '/readyz',
    access: 'open',
    handle: ({ res }, ctx) => {
      const r = ctx.ready()
      json(res, r.ok ? 200 : 503, r)
    }
  }
]
