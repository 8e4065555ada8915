/**
 * A stand-in secret check for user names that have no account, so that "unknown" costs what
 * "known, wrong secret" costs and device ids cannot be listed by timing CONNACKs. It runs scrypt
 * with the parameters most configured hashes use against a hash no secret matches.
 */
import { randomBytes } from 'node:crypto'
import { DEFAULT_PARAMS, hashParams, verifySecret, type ScryptParams } from './secret.js'

const dummies = new Map<string, string>()

/** A hash with these parameters that no secret matches (its key is random, not derived). */
function dummyHash(p: ScryptParams): string {
  const key = `${p.N}$${p.r}$${p.p}`
  let h = dummies.get(key)
  if (h === undefined) {
    h = `scrypt$${key}$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`
    dummies.set(key, h)
  }
  return h
}

/** The parameters most of `hashes` use (the default when there are none): what a real check costs here. */
export function typicalParams(hashes: Iterable<string>): ScryptParams {
  const tally = new Map<string, { p: ScryptParams; n: number }>()
  for (const h of hashes) {
    const p = hashParams(h)
    if (p === null) continue
    const k = `${p.N}$${p.r}$${p.p}`
    const t = tally.get(k) ?? { p, n: 0 }
    t.n++
    tally.set(k, t)
  }
  let best: { p: ScryptParams; n: number } | undefined
  for (const t of tally.values()) if (best === undefined || t.n > best.n) best = t
  return best?.p ?? DEFAULT_PARAMS
}

/** Always false, after as much work as checking `secret` against a real hash with `params`. */
export async function dummyCheck(secret: Buffer, params: ScryptParams): Promise<false> {
  await verifySecret(secret, dummyHash(params))
  return false
}
