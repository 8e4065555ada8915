/**
 * Technician sessions and the login rate limit. Sessions live in memory (a restart logs
 * everyone out), expire a fixed time after login, and each carries its own CSRF token.
 */
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto'

export const SESSION_COOKIE = 'hf_session'
/** Sessions kept at most; the oldest is dropped first. A gateway has a handful of technicians. */
const MAX_SESSIONS = 64

export interface Session {
  id: string
  csrf: string
  createdMs: number
  expiresMs: number
  address: string
}

const token = (): string => randomBytes(32).toString('base64url')

/** Constant-time comparison of two strings of any length. */
export function safeEqual(a: string, b: string): boolean {
  // Hashing first gives equal lengths, so the comparison leaks neither content nor length.
  const ha = createHash('sha256').update(a).digest()
  const hb = createHash('sha256').update(b).digest()
  return timingSafeEqual(ha, hb) && a.length === b.length
}

export class Sessions {
  private readonly byId = new Map<string, Session>()

  constructor(private readonly ttlMs: number) {}

  create(address: string): Session {
    const now = Date.now()
    this.prune(now)
    while (this.byId.size >= MAX_SESSIONS) this.byId.delete(this.byId.keys().next().value!)
    const s: Session = { id: token(), csrf: token(), createdMs: now, expiresMs: now + this.ttlMs, address }
    this.byId.set(s.id, s)
    return s
  }

  /** The live session for a cookie value, or null (unknown, expired). */
  get(id: string | undefined): Session | null {
    if (id === undefined || id === '') return null
    const s = this.byId.get(id)
    if (s === undefined) return null
    if (Date.now() >= s.expiresMs) {
      this.byId.delete(id)
      return null
    }
    return s
  }

  revoke(id: string): void {
    this.byId.delete(id)
  }

  get size(): number {
    return this.byId.size
  }

  cookie(s: Session): string {
    return `${SESSION_COOKIE}=${s.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.max(1, Math.floor(this.ttlMs / 1000))}`
  }

  static clearCookie(): string {
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`
  }

  private prune(now: number): void {
    for (const [id, s] of this.byId) if (now >= s.expiresMs) this.byId.delete(id)
  }
}

/**
 * Failed logins per client address within a sliding window. Past the limit the address is
 * refused — even with the right password — until its oldest failure leaves the window. A check
 * still running counts as a failure until it ends, so parallel attempts meet the same limit.
 */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>()
  private readonly checking = new Map<string, number>()
  /** Addresses tracked at most, so a flood of spoofed sources cannot grow memory without bound. */
  private static readonly MAX_ADDRESSES = 10_000

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number
  ) {}

  /** 0 when the address may try now, else the milliseconds until it may. */
  retryAfterMs(address: string): number {
    const list = this.recent(address, Date.now())
    const pending = this.checking.get(address) ?? 0
    if (list.length + pending < this.maxFailures) return 0
    // Checks in flight end within a second or so; failures leave the window in order.
    if (list.length < this.maxFailures) return 1000
    return Math.max(1, list[list.length - this.maxFailures]! + this.windowMs - Date.now())
  }

  /** A check starts (after retryAfterMs said 0): it counts until fail() or succeed(). */
  begin(address: string): void {
    this.checking.set(address, (this.checking.get(address) ?? 0) + 1)
  }

  private end(address: string): void {
    const n = (this.checking.get(address) ?? 1) - 1
    if (n > 0) this.checking.set(address, n)
    else this.checking.delete(address)
  }

  fail(address: string): void {
    this.end(address)
    const now = Date.now()
    const list = this.recent(address, now)
    list.push(now)
    this.failures.set(address, list)
    if (this.failures.size > LoginLimiter.MAX_ADDRESSES) this.failures.delete(this.failures.keys().next().value!)
  }

  succeed(address: string): void {
    this.end(address)
    this.failures.delete(address)
  }

  private recent(address: string, now: number): number[] {
    const list = (this.failures.get(address) ?? []).filter(t => now - t < this.windowMs)
    if (list.length === 0) this.failures.delete(address)
    return list
  }
}
