/** Small HTTP helpers shared by the status routes: replies, bodies, cookies, security headers. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ErrorCodes, type ErrorCode } from '../errors.js'

/** Sent with every answer: no sniffing, no framing, no referrer leaking the gateway's address to other sites. */
export const BASE_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null` on form posts.
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin'
}

/**
 * Node's server limits: a client trickling its headers (or its request) is closed after a bounded time
 * instead of holding a socket for minutes; they are checked every second. Live streams are unaffected:
 * these bound receiving the request, not the answer.
 */
export const SERVER_TIMEOUTS = { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000 }

/** The page loads only its own script and style; nothing may leave for another origin. */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

export function send(
  res: ServerResponse,
  code: number,
  body: string | Buffer,
  headers: Record<string, string | string[]>
): void {
  res.writeHead(code, { ...BASE_HEADERS, 'content-length': String(Buffer.byteLength(body)), ...headers })
  res.end(body)
}

export function json(
  res: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string | string[]> = {}
): void {
  send(res, code, JSON.stringify(body), {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers
  })
}

/** `{ error, code }`: the message for people, the code for programs and tests. */
export function fail(
  res: ServerResponse,
  status: number,
  code: ErrorCode,
  message?: string,
  headers: Record<string, string> = {}
): void {
  json(res, status, { error: message ?? ErrorCodes[code], code }, headers)
}

export class BodyTooLarge extends Error {}

export async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req) {
    size += (c as Buffer).length
    if (size > limit) throw new BodyTooLarge(`body over ${limit} bytes`)
    chunks.push(c as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>()
  if (header === undefined) return out
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq <= 0) continue
    const name = part.slice(0, eq).trim()
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim())
  }
  return out
}

/** The client's address as the socket sees it (the gateway is reached directly on the LAN, no proxy). */
export function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown'
}

/**
 * A state-changing request must come from our own page: when the browser says where it came
 * from (Origin, or Sec-Fetch-Site), it must be this very origin.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false
  const origin = req.headers.origin
  if (origin === undefined) return true
  const host = req.headers.host
  return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`)
}
