/**
 * CONNECT: who is this client? A client certificate names a device or app; otherwise a username and
 * secret (scrypt, checked off the event loop and cached). Refusals carry a CONNACK return code and
 * are counted; wrong secrets are rate-limited per address.
 */
import type { AuthenticateError, Client } from 'aedes'
import type { Config } from '../config/schema.js'
import { HoldfastError, type ErrorCode } from '../errors.js'
import type { Account, Accounts } from '../identity/accounts.js'
import { OPEN_ACL } from '../identity/acl.js'
import { certIdentity } from '../identity/cert.js'
import { SecretCache, verifySecret } from '../identity/secret.js'
import type { RefusalReason } from '../metrics/counters.js'
import { KeyedBuckets } from '../quota/keyed.js'
import { ClientIds } from './client-ids.js'
import { addressOf, type AdmissionContext } from './context.js'

// CONNACK return codes. [MQTT-3.2.2.3]
const IDENTIFIER_REJECTED = 2
const SERVER_UNAVAILABLE = 3
const BAD_CREDENTIALS = 4
const NOT_AUTHORIZED = 5
/**
 * scrypt checks queued or running at once (libuv runs 4 at a time, ~50 ms each). A whole fleet
 * reconnecting after a restart fits; past this, logins are refused with "server unavailable" and the
 * devices retry. Floods of wrong secrets are stopped earlier, per address (authFailuresPerMin).
 */
const MAX_VERIFYING = 512

export type AuthDone = (err: AuthenticateError | null, ok: boolean | null) => void

export function createAuthenticate(ctx: AdmissionContext, accounts: Accounts) {
  const { counters, log, sessions } = ctx
  const allowAnonymous = ctx.config().mqtt.allowAnonymous
  const cache = new SecretCache()
  const clientIds = new ClientIds()
  const failuresOf = (c: Readonly<Config>) => new KeyedBuckets(c.mqtt.authFailuresPerMin / 60, c.mqtt.authFailureBurst)
  let authFailures = failuresOf(ctx.config())
  let verifying = 0

  function refuseLogin(
    client: Client,
    done: AuthDone,
    reason: RefusalReason,
    code: ErrorCode,
    returnCode: number,
    fields: Record<string, unknown> = {}
  ): void {
    counters.refuse(reason)
    if (reason !== 'session_limit' && reason !== 'auth_busy' && reason !== 'client_id_taken') counters.authFailures++
    log.warn({ code, client: client.id, address: addressOf(client), ...fields }, 'client refused')
    done(
      Object.assign(new HoldfastError(code, undefined, fields), { returnCode }) as unknown as AuthenticateError,
      false
    )
  }

  /** The account is who the client says it is: check sessions, fix its per-connection state. */
  function logIn(client: Client, account: Account, bySecret: boolean, done: AuthDone): void {
    if (!clientIds.claim(client, `${account.kind}:${account.id}`)) {
      return refuseLogin(client, done, 'client_id_taken', 'HF_ERR_CLIENT_ID_TAKEN', IDENTIFIER_REJECTED, {
        who: account.id
      })
    }
    if (account.kind === 'app') {
      sessions.openApp(client, account.id, account.acl, bySecret)
      return done(null, true)
    }
    const rt = sessions.runtimeOf(account.id)
    // A reconnect with the same client id takes the old session over [MQTT-3.1.4-2]: not a second session.
    let others = 0
    for (const c of rt.sessions) if (c.id !== client.id) others++
    if (others >= rt.limits.maxSessions) {
      return refuseLogin(client, done, 'session_limit', 'HF_ERR_SESSION_LIMIT', SERVER_UNAVAILABLE, {
        device: rt.id,
        limit: rt.limits.maxSessions
      })
    }
    sessions.openDevice(client, rt, bySecret)
    done(null, true)
  }

  function authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: AuthDone
  ): void {
    const cert = certIdentity(client.conn)
    if (cert !== null && 'id' in cert) {
      if (username !== undefined && username !== cert.id) {
        return refuseLogin(client, done, 'cert_mismatch', 'HF_ERR_AUTH_CERT_MISMATCH', NOT_AUTHORIZED, {
          username,
          certId: cert.id
        })
      }
      const app = accounts.app(cert.id)
      return logIn(client, app ?? { kind: 'device', id: cert.id, hash: null }, false, done)
    }
    if (cert !== null)
      log.debug({ client: client.id, cert: cert.error, detail: cert.detail }, 'client certificate ignored')
    if (username === undefined) {
      if (allowAnonymous) {
        sessions.open(client, 'anonymous', null, OPEN_ACL, null, false)
        return done(null, true)
      }
      return refuseLogin(client, done, 'anonymous', 'HF_ERR_AUTH_ANONYMOUS', NOT_AUTHORIZED)
    }
    const address = addressOf(client)
    if (authFailures.exhausted(address, Date.now())) {
      return refuseLogin(client, done, 'auth_rate_limited', 'HF_ERR_AUTH_RATE_LIMITED', NOT_AUTHORIZED, { username })
    }
    const account = accounts.lookup(username)
    if (account === undefined || account.hash === null) {
      authFailures.tryTake(address, Date.now())
      return refuseLogin(client, done, 'unknown_identity', 'HF_ERR_AUTH_UNKNOWN', BAD_CREDENTIALS, { username })
    }
    const secret = password ?? Buffer.alloc(0)
    const hash = account.hash
    if (cache.matches(username, hash, secret)) return logIn(client, account, true, done)
    if (verifying >= MAX_VERIFYING)
      return refuseLogin(client, done, 'auth_busy', 'HF_ERR_AUTH_BUSY', SERVER_UNAVAILABLE, { username })
    verifying++
    verifySecret(secret, hash).then(
      ok => {
        verifying--
        // aedes drops the answer itself if the client went away meanwhile.
        if (!ok) {
          authFailures.tryTake(address, Date.now())
          if (account.kind === 'device') counters.device(account.id).authFailures++
          return refuseLogin(client, done, 'bad_credentials', 'HF_ERR_AUTH_BAD_CREDENTIALS', BAD_CREDENTIALS, {
            username
          })
        }
        cache.remember(username, hash, secret)
        logIn(client, account, true, done)
      },
      err => {
        verifying--
        log.error({ err, client: client.id }, 'secret check failed')
        refuseLogin(client, done, 'auth_busy', 'HF_ERR_AUTH_BUSY', SERVER_UNAVAILABLE, { username })
      }
    )
  }

  return {
    authenticate,
    /** A secret rotated or removed: forget its cached check. */
    forget: (name: string): void => cache.forget(name),
    /** Login rate limits changed (remote configuration). */
    reconfigure(prev: Readonly<Config>, next: Readonly<Config>): void {
      if (
        prev.mqtt.authFailuresPerMin !== next.mqtt.authFailuresPerMin ||
        prev.mqtt.authFailureBurst !== next.mqtt.authFailureBurst
      ) {
        authFailures = failuresOf(next)
      }
    }
  }
}
