/**
 * Server-sent events for the live page: one timer builds the status document once per tick
 * and writes it to every open stream. No clients, no work. A stream whose session expired
 * is told so and closed; a client that does not read is dropped rather than buffered.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { constants, createGzip, type Gzip } from 'node:zlib'
import { BASE_HEADERS, clientAddress } from './http.js'

/** A stream's writer: the response itself, or a gzip stream flushed after every event. */
interface Client {
  res: ServerResponse
  gzip: Gzip | null
  sessionId: string | null
  address: string
}

export interface HubOptions {
  intervalMs: number
  maxClients: number
  /** The JSON of the `status` event, built once per tick (off and on: see document-text.ts). */
  build: () => Promise<string>
  /** A build failed (the streams get no `status` event that tick). */
  onError: (err: unknown) => void
  /** Whether a stream may still receive (its session is live, or the view is public). */
  allowed: (sessionId: string | null) => boolean
}

const MAX_QUEUED_BYTES = 2 * 1024 * 1024
/** Live streams one source address may hold: one LAN host cannot take the live page from the technicians. */
export const MAX_STREAMS_PER_ADDRESS = 4

export class EventHub {
  private readonly clients = new Set<Client>()
  private readonly perAddress = new Map<string, number>()
  private timer: NodeJS.Timeout | null = null
  /** A tick's build is still running (a big fleet on a busy box): the next tick is skipped, not stacked. */
  private building = false

  constructor(private readonly o: HubOptions) {}

  get size(): number {
    return this.clients.size
  }

  /** Open a stream; false when there are too many already (the caller answers 503). */
  open(req: IncomingMessage, res: ServerResponse, sessionId: string | null, first: Array<[string, string]>): boolean {
    const address = clientAddress(req)
    const mine = this.perAddress.get(address) ?? 0
    if (this.clients.size >= this.o.maxClients || mine >= MAX_STREAMS_PER_ADDRESS) return false
    // A big fleet's status is mostly repeated keys: gzip makes it several times smaller on Wi-Fi.
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) ? createGzip({ level: 1 }) : null
    res.writeHead(200, {
      ...BASE_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      ...(gzip !== null ? { 'content-encoding': 'gzip', vary: 'accept-encoding' } : {})
    })
    res.socket?.setNoDelay(true)
    gzip?.pipe(res)
    const c: Client = { res, gzip, sessionId, address }
    this.clients.add(c)
    this.perAddress.set(address, mine + 1)
    req.on('close', () => {
      this.forget(c)
      gzip?.destroy()
    })
    this.send(c, `retry: 2000\n\n`)
    for (const [event, data] of first) this.write(c, event, data)
    this.o.build().then(data => {
      if (this.clients.has(c)) this.write(c, 'status', data)
    }, this.o.onError)
    if (this.timer === null) {
      this.timer = setInterval(() => this.tick(), this.o.intervalMs)
      this.timer.unref()
    }
    return true
  }

  /** Send one event to every stream now (e.g. a new chart point). */
  broadcast(event: string, data: string): void {
    for (const c of this.clients) this.write(c, event, data)
  }

  closeAll(): void {
    for (const c of this.clients) this.end(c)
    this.clients.clear()
    this.perAddress.clear()
    this.stopTimer()
  }

  private tick(): void {
    if (this.clients.size === 0) return this.stopTimer()
    for (const c of this.clients) {
      if (this.o.allowed(c.sessionId)) continue
      this.write(c, 'expired', '{}')
      this.end(c)
      this.forget(c)
    }
    if (this.clients.size === 0 || this.building) return
    this.building = true
    this.o
      .build()
      .then(data => {
        for (const c of this.clients) this.write(c, 'status', data)
      }, this.o.onError)
      .finally(() => {
        this.building = false
      })
  }

  private write(c: Client, event: string, data: string): void {
    if (c.res.writableLength + (c.gzip?.writableLength ?? 0) > MAX_QUEUED_BYTES) {
      c.gzip?.destroy()
      c.res.destroy()
      this.forget(c)
      return
    }
    this.send(c, `event: ${event}\ndata: ${data}\n\n`)
  }

  private send(c: Client, text: string): void {
    if (c.gzip === null) {
      c.res.write(text)
      return
    }
    c.gzip.write(text)
    c.gzip.flush(constants.Z_SYNC_FLUSH)
  }

  private forget(c: Client): void {
    if (!this.clients.delete(c)) return
    const n = (this.perAddress.get(c.address) ?? 1) - 1
    if (n > 0) this.perAddress.set(c.address, n)
    else this.perAddress.delete(c.address)
  }

  private end(c: Client): void {
    if (c.gzip !== null) c.gzip.end()
    else c.res.end()
  }

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }
}
