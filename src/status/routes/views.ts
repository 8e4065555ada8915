/** The read-only views: /api/status, the live event stream, the rate history, /metrics. */
import { BASE_HEADERS, fail, json, send } from '../http.js'
import type { Route } from '../context.js'
import { deviceDetail } from '../device-view.js'
import { MAX_STREAMS_PER_ADDRESS } from '../sse.js'

/** All live streams at once; each address may hold MAX_STREAMS_PER_ADDRESS of them. */
const MAX_STREAMS = 64

export const viewRoutes: Route[] = [
  {
    method: 'GET',
    path: '/api/status',
    access: 'view',
    handle: async ({ res }, ctx) => {
      const pieces = await ctx.statusText()
      if (res.destroyed) return
      res.writeHead(200, {
        ...BASE_HEADERS,
        'content-length': String(pieces.reduce((n, p) => n + p.length, 0)),
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store'
      })
      for (const p of pieces) res.write(p)
      res.end()
    }
  },
  {
    method: 'GET',
    path: '/api/device',
    access: 'view',
    handle: ({ req, res, session }, ctx) => {
      const id = new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? ''
      const detail = deviceDetail(id, ctx.sources, ctx.history, session !== null)
      if (detail === null) return fail(res, 404, 'HF_ERR_DEVICE_UNKNOWN')
      send(res, 200, ctx.scrub(JSON.stringify(detail)), {
        'content-type': 'application/json; charset=utf-8',
        'cache-control': 'no-store'
      })
    }
  },
  {
    method: 'GET',
    path: '/api/history',
    access: 'view',
    handle: ({ res }, ctx) => json(res, 200, { stepS: ctx.history.stepMs / 1000, points: ctx.history.points() })
  },
  {
    method: 'GET',
    path: '/api/events',
    access: 'view',
    handle: ({ req, res, session }, ctx) => {
      if (req.method === 'HEAD')
        return send(res, 200, '', { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' })
      const history = JSON.stringify({ stepS: ctx.history.stepMs / 1000, points: ctx.history.points() })
      if (!ctx.hub.open(req, res, session?.id ?? null, [['history', history]])) {
        fail(
          res,
          503,
          'HF_ERR_CONN_LIMIT',
          `too many live pages: at most ${MAX_STREAMS_PER_ADDRESS} per address, ${MAX_STREAMS} in all`,
          { 'retry-after': '10' }
        )
      }
    }
  },
  {
    method: 'GET',
    path: '/metrics',
    access: 'metrics',
    handle: async ({ res }, ctx) => {
      const text = await ctx.metrics.text()
      send(res, 200, text, { 'content-type': ctx.metrics.contentType, 'cache-control': 'no-store' })
    }
  }
]

export { MAX_STREAMS }
