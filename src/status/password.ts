/**
 * Technician password hashing: scrypt with a random salt, stored as
 * `scrypt$N$r$p$salt$hash` (base64) in `status.passwordHash`. Only the hash is ever configured.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

const KEYLEN = 32
const DEFAULTS = { N: 1 << 14, r: 8, p: 1 }

function derive(
  password: string,
  salt: Buffer,
  o: { N: number; r: number; p: number },
  keylen: number
): Promise<Buffer> {
  // maxmem must cover 128 * N * r bytes, with room to spare.
  const opts: ScryptOptions = { N: o.N, r: o.r, p: o.p, maxmem: 256 * o.N * o.r + 1024 * 1024 }
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, keylen, opts, (err, key) => (err === null ? resolve(key) : reject(err)))
  )
}

export async function hashPassword(password: string, o = DEFAULTS): Promise<string> {
  const salt = randomBytes(16)
  const key = await derive(password, salt, o, KEYLEN)
  return `scrypt$${o.N}$${o.r}$${o.p}$${salt.toString('base64')}$${key.toString('base64')}`
}

/** True when `password` matches `hash`; false for a wrong password or an unusable hash. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(hash)
  if (m === null) return false
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])]
  const expected = Buffer.from(m[5]!, 'base64')
  if (expected.length < 16 || N < 2 || (N & (N - 1)) !== 0 || N > 1 << 20 || r > 32 || p > 16) return false
  try {
    const key = await derive(password, Buffer.from(m[4]!, 'base64'), { N, r, p }, expected.length)
    return timingSafeEqual(key, expected)
  } catch {
    return false
  }
}
