/** The HTTP side: health probes and the status API. Only reads snapshots. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Logger } from '../log.js'
import { statusSnapshot, type StatusSources } from './snapshot.js'

export interface HttpOptions {
  host: string
  port: number
  sources: StatusSources
  ready: () => { ok: boolean, checks: Record<string, boolean> }
  log: Logger
}

function json (res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(code, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

export async function startHttp (opts: HttpOptions): Promise<Server> {
  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    '/healthz': (_req, res) => json(res, 200, { ok: true }),
    '/readyz': (_req, res) => {
      const r = opts.ready()
      json(res, r.ok ? 200 : 503, r)
    },
    '/api/status': (_req, res) => json(res, 200, statusSnapshot(opts.sources))
  }
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    const route = routes[path]
    if (route === undefined) return json(res, 404, { error: 'not found' })
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method not allowed' })
    try {
      route(req, res)
    } catch (err) {
      opts.log.error({ err, path }, 'http handler failed')
      json(res, 500, { error: 'internal error' })
    }
  })
  server.keepAliveTimeout = 5_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  opts.log.info({ host: opts.host, port: opts.port }, 'http listening')
  return server
}
