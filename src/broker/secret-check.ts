/**
 * Checking a login's user name and secret: the per-address failure budget first (checks in
 * flight count against it), then the cache of verified secrets, then scrypt on libuv's pool —
 * against the account's hash, or a dummy hash of the same cost when the name is unknown, so the
 * answer takes as long either way.
 */
import type { Account, Accounts } from '../identity/accounts.js'
import { dummyCheck } from '../identity/dummy-check.js'
import { LoginLimiter } from '../quota/login-limiter.js'
import { SecretCache, verifySecret } from '../identity/secret.js'

export type CheckOutcome =
  | { kind: 'ok'; account: Account }
  | { kind: 'bad'; account: Account }
  | { kind: 'unknown' }
  | { kind: 'rate_limited' }
  | { kind: 'busy' }
  | { kind: 'gone' }
  | { kind: 'error'; err: unknown }

/**
 * scrypt checks queued or running at once (SCRYPT_ON_POOL of them run at a time, ~50 ms each). A whole fleet
 * reconnecting after a restart fits; past this, logins are refused with "server unavailable" and
 * the devices retry.
 */
const MAX_VERIFYING = 512

export class SecretChecker {
  private readonly cache = new SecretCache()
  private limiter: LoginLimiter
  private verifying = 0

  constructor(
    private readonly accounts: Accounts,
    failuresPerMin: number,
    failureBurst: number
  ) {
    this.limiter = new LoginLimiter(failuresPerMin, failureBurst)
  }

  /** New limits (remote configuration); budgets start afresh. */
  retune(failuresPerMin: number, failureBurst: number): void {
    this.limiter = new LoginLimiter(failuresPerMin, failureBurst)
  }

  /** Forget verified secrets of `name` (rotated, removed, account changed). */
  forget(name: string): void {
    this.cache.forget(name)
  }

  /** `gone()` true = the client left while waiting: no check is run for it. */
  check(address: string, username: string, secret: Buffer, gone: () => boolean, done: (o: CheckOutcome) => void): void {
    const limiter = this.limiter
    limiter.begin(address, go => {
      if (!go) return done({ kind: 'rate_limited' })
      if (gone()) {
        limiter.settle(address, true)
        return done({ kind: 'gone' })
      }
      const account = this.accounts.lookup(username)
      const hash = account?.hash ?? null
      if (account !== undefined && hash !== null && this.cache.matches(username, hash, secret)) {
        limiter.settle(address, true)
        return done({ kind: 'ok', account })
      }
      if (this.verifying >= MAX_VERIFYING) {
        limiter.settle(address, true)
        return done({ kind: 'busy' })
      }
      this.verifying++
      const run =
        account !== undefined && hash !== null
          ? verifySecret(secret, hash)
          : dummyCheck(secret, this.accounts.checkParams())
      run.then(
        ok => {
          this.verifying--
          limiter.settle(address, ok)
          if (account === undefined || hash === null) return done({ kind: 'unknown' })
          if (!ok) return done({ kind: 'bad', account })
          this.cache.remember(username, hash, secret)
          done({ kind: 'ok', account })
        },
        err => {
          this.verifying--
          limiter.settle(address, true)
          done({ kind: 'error', err })
        }
      )
    })
  }
}
