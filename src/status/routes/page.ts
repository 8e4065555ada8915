/**
 * The page and its assets. The HTML holds no data, so it is served to anyone; the data behind
 * it needs a session (or status.public). The scripts are the browser modules in
 * src/status/assets/ (app.ts and what it imports), compiled by tsc next to this file's output
 * and read once, on first request.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import { PAGE_HTML } from '../assets/page.js'
import { STYLE_CSS } from '../assets/style.js'
import { PAGE_CSP, send } from '../http.js'
import type { Route } from '../context.js'

/** The browser modules, in the order the page preloads them. */
export const SCRIPTS = ['app', 'render', 'devices', 'device', 'actions', 'chart', 'dom'] as const

function loadScript(name: string): string {
  try {
    return readFileSync(new URL(`../assets/${name}.js`, import.meta.url), 'utf8').replace(
      /\n\/\/# sourceMappingURL=.*\s*$/,
      '\n'
    )
  } catch {
    return `document.body.textContent = "status page script ${name}.js missing from this build"\n`
  }
}

/** An asset with its gzip and brotli forms, compressed once when first asked for. */
interface Asset {
  body: Buffer
  gzip: Buffer
  br: Buffer
  type: string
  etag: string
}
const asset = (text: string, type: string): Asset => {
  const body = Buffer.from(text)
  return {
    body,
    gzip: gzipSync(body, { level: 9 }),
    br: brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
    type,
    etag: createHash('sha256').update(body).digest('base64url').slice(0, 22)
  }
}

let assets: Record<string, Asset> | null = null
function get(name: string): Asset {
  assets ??= {
    html: asset(PAGE_HTML, 'text/html; charset=utf-8'),
    css: asset(STYLE_CSS, 'text/css; charset=utf-8'),
    ...Object.fromEntries(SCRIPTS.map(n => [n, asset(loadScript(n), 'text/javascript; charset=utf-8')]))
  }
  return assets[name]!
}

/** The encoding to send: brotli, then gzip, when the client accepts it (q=0 refuses). */
export function pickEncoding(accept: string | undefined): 'br' | 'gzip' | null {
  const ok = (name: string): boolean =>
    (accept ?? '').split(',').some(part => {
      const [token, ...params] = part.trim().split(';')
      return token!.trim().toLowerCase() === name && !params.some(p => /^\s*q=0(\.0*)?\s*$/.test(p))
    })
  return ok('br') ? 'br' : ok('gzip') ? 'gzip' : null
}

function serve(name: string) {
  return ({ req, res }: { req: IncomingMessage; res: ServerResponse }): void => {
    const a = get(name)
    const enc = pickEncoding(req.headers['accept-encoding'] as string | undefined)
    const etag = `"${a.etag}${enc === null ? '' : `-${enc}`}"`
    const headers: Record<string, string> = {
      'content-type': a.type,
      'cache-control': 'no-cache',
      etag,
      vary: 'accept-encoding'
    }
    if (name === 'html') headers['content-security-policy'] = PAGE_CSP
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers)
      res.end()
      return
    }
    if (enc !== null) headers['content-encoding'] = enc
    send(res, 200, enc === 'br' ? a.br : enc === 'gzip' ? a.gzip : a.body, headers)
  }
}

export const pageRoutes: Route[] = [
  { method: 'GET', path: '/', access: 'open', handle: serve('html') },
  { method: 'GET', path: '/index.html', access: 'open', handle: serve('html') },
  { method: 'GET', path: '/assets/app.css', access: 'open', handle: serve('css') },
  ...SCRIPTS.map((n): Route => ({ method: 'GET', path: `/assets/${n}.js`, access: 'open', handle: serve(n) }))
]
