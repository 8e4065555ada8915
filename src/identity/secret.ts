/**
 * Device and app secrets: stored only as scrypt hashes with a random salt, in the format
 * `scrypt$N$r$p$salt$hash` (base64) that `holdfast hash-password` also prints, so either tool's
 * output works in `devices.<id>.passwordHash`, `apps.<name>.passwordHash` and credentials.json.
 * Verification runs scrypt on libuv's thread pool (async, at most SCRYPT_ON_POOL at once), so a CONNECT
 * never blocks the event loop.
 */
import { createHmac, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'
import { usableCores } from '../platform/cores.js'

export interface ScryptParams {
  N: number
  r: number
  p: number
}
/** 16 MiB and ~50 ms per check on a small ARM box; verified results are cached (see SecretCache). */
export const DEFAULT_PARAMS: ScryptParams = { N: 1 << 14, r: 8, p: 1 }
const KEYLEN = 32
const FORMAT = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/

interface Parsed extends ScryptParams {
  salt: Buffer
  key: Buffer
}

function parse(hash: string): Parsed | null {
  const m = FORMAT.exec(hash)
  if (m === null) return null
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])]
  const key = Buffer.from(m[5]!, 'base64')
  // Bounds keep a hostile or mistyped hash from costing gigabytes or minutes per login.
  if (key.length < 16 || N < 2 || (N & (N - 1)) !== 0 || N > 1 << 20 || r < 1 || r > 32 || p < 1 || p > 16) return null
  return { N, r, p, salt: Buffer.from(m[4]!, 'base64'), key }
}

export function isUsableHash(hash: string): boolean {
  return parse(hash) !== null
}

/** The cost parameters of a usable hash, or null. */
export function hashParams(hash: string): ScryptParams | null {
  const h = parse(hash)
  return h === null ? null : { N: h.N, r: h.r, p: h.p }
}

/** libuv's thread pool size as libuv reads it at the process's first use of the pool (default 4). */
function poolSize(): number {
  const n = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10)
  return Number.isFinite(n) && n >= 1 ? Math.min(n, 1024) : 4
}

/**
 * scrypt runs on libuv's thread pool, which every thread of the process shares: the commit worker's
 * WAL fdatasync runs there too, and PUBACKs wait for it. A reconnect storm may start hundreds of checks
 * at once; at most half the pool's threads run them (2 of node's 4, 4 of the systemd unit's 8), so the
 * sync (and name lookups) always find threads free, and at most one fewer than the cores the process
 * may use (its cgroup's CPU quota counted), so the checks leave the broker's thread a core (each is
 * ~50 ms of CPU at full priority). The rest wait here.
 */
export const SCRYPT_ON_POOL = Math.max(1, Math.min(Math.floor(poolSize() / 2), usableCores() - 1))
let onPool = 0
const waiting: Array<() => void> = []

async function derive(secret: Buffer, salt: Buffer, o: ScryptParams, keylen: number): Promise<Buffer> {
  if (onPool >= SCRYPT_ON_POOL) await new Promise<void>(resolve => waiting.push(resolve))
  else onPool++
  const opts: ScryptOptions = { N: o.N, r: o.r, p: o.p, maxmem: 256 * o.N * o.r + 1024 * 1024 }
  try {
    return await new Promise((resolve, reject) =>
      scrypt(secret, salt, keylen, opts, (err, key) => (err === null ? resolve(key) : reject(err)))
    )
  } finally {
    // The slot passes straight to the next waiting check (or is given back).
    const next = waiting.shift()
    if (next !== undefined) next()
    else onPool--
  }
}

export async function hashSecret(secret: string | Buffer, params: ScryptParams = DEFAULT_PARAMS): Promise<string> {
  const salt = randomBytes(16)
  const key = await derive(toBytes(secret), salt, params, KEYLEN)
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`
}

/** True when `secret` matches `hash`; false for a wrong secret or an unusable hash. Constant-time compare. */
export async function verifySecret(secret: string | Buffer, hash: string): Promise<boolean> {
  const h = parse(hash)
  if (h === null) return false
  try {
    return timingSafeEqual(await derive(toBytes(secret), h.salt, h, h.key.length), h.key)
  } catch {
    return false
  }
}

/** A random secret for `holdfast devices add|rotate` when none is given: 24 bytes, URL-safe base64. */
export function randomSecret(): string {
  return randomBytes(24).toString('base64url')
}

/** MQTT passwords are bytes; text secrets are NFC-normalised so the same typed secret always matches. */
function toBytes(secret: string | Buffer): Buffer {
  return typeof secret === 'string' ? Buffer.from(secret.normalize('NFC'), 'utf8') : secret
}

/**
 * Remembers secrets that verified, as a keyed MAC (never the secret), so a device reconnecting
 * costs one HMAC instead of one scrypt. An entry is tied to the hash it was verified against:
 * rotating or removing a credential invalidates it. Wrong secrets are never cached.
 */
export class SecretCache {
  private readonly key = randomBytes(32)
  private readonly entries = new Map<string, { hash: string; mac: Buffer }>()

  constructor(private readonly maxEntries = 100_000) {}

  matches(username: string, hash: string, secret: Buffer): boolean {
    const e = this.entries.get(username)
    return e !== undefined && e.hash === hash && timingSafeEqual(e.mac, this.mac(username, secret))
  }

  remember(username: string, hash: string, secret: Buffer): void {
    if (this.entries.size >= this.maxEntries) this.entries.clear()
    this.entries.set(username, { hash, mac: this.mac(username, secret) })
  }

  forget(username: string): void {
    this.entries.delete(username)
  }

  private mac(username: string, secret: Buffer): Buffer {
    return createHmac('sha256', this.key).update(username).update('\0').update(secret).digest()
  }
}
