/**
 * The page and its assets. The HTML holds no data, so it is served to anyone; the data behind
 * it needs a session (or status.public). The scripts are the browser modules in
 * src/status/assets/ (app.ts and what it imports), compiled by tsc next to this file's output
 * and read once, on first request.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { PAGE_HTML } from '../assets/page.js'
import { STYLE_CSS } from '../assets/style.js'
import { PAGE_CSP, send } from '../http.js'
import type { Route } from '../context.js'

/** The browser modules, in the order the page preloads them. */
export const SCRIPTS = ['app', 'render', 'devices', 'chart', 'dom'] as const

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

interface Asset {
  body: string
  type: string
  etag: string
}
const asset = (body: string, type: string): Asset => ({
  body,
  type,
  etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`
})

let assets: Record<string, Asset> | null = null
function get(name: string): Asset {
  assets ??= {
    html: asset(PAGE_HTML, 'text/html; charset=utf-8'),
    css: asset(STYLE_CSS, 'text/css; charset=utf-8'),
    ...Object.fromEntries(SCRIPTS.map(n => [n, asset(loadScript(n), 'text/javascript; charset=utf-8')]))
  }
  return assets[name]!
}

function serve(name: string) {
  return ({ req, res }: { req: IncomingMessage; res: ServerResponse }): void => {
    const a = get(name)
    const headers: Record<string, string> = { 'content-type': a.type, 'cache-control': 'no-cache', etag: a.etag }
    if (name === 'html') headers['content-security-policy'] = PAGE_CSP
    if (req.headers['if-none-match'] === a.etag) {
      res.writeHead(304, headers)
      res.end()
      return
    }
    send(res, 200, a.body, headers)
  }
}

export const pageRoutes: Route[] = [
  { method: 'GET', path: '/', access: 'open', handle: serve('html') },
  { method: 'GET', path: '/index.html', access: 'open', handle: serve('html') },
  { method: 'GET', path: '/assets/app.css', access: 'open', handle: serve('css') },
  ...SCRIPTS.map((n): Route => ({ method: 'GET', path: `/assets/${n}.js`, access: 'open', handle: serve(n) }))
]
