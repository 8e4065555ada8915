/**
 * CONNECT: who is this client? A client certificate names a device or app; otherwise a username and
 * secret (scrypt, checked off the event loop and cached). Refusals carry a CONNACK return code and
 * are counted; wrong secrets are rate-limited per address.
 */
import { LogThrottle } from '../log-throttle.js'
import type { AuthenticateError, Client } from 'aedes'
import type { Config } from '../config/schema.js'
import { HoldfastError, type ErrorCode } from '../errors.js'
import type { Account, Accounts } from '../identity/accounts.js'
import { OPEN_ACL } from '../identity/acl.js'
import { certIdentity } from '../identity/cert.js'
import type { RefusalReason } from '../metrics/counters.js'
import { ClientIds, PERSISTENT_SESSIONS_PER_OWNER } from './client-ids.js'
import { addressOf, type AdmissionContext } from './context.js'
import { brokerOf } from './session-store.js'
import { CONNACK_REASON, Reason } from './reason-codes.js'
import { SecretChecker } from './secret-check.js'

// CONNACK return codes. [MQTT-3.2.2.3]
const IDENTIFIER_REJECTED = 2
const SERVER_UNAVAILABLE = 3
const BAD_CREDENTIALS = 4
const NOT_AUTHORIZED = 5
/** Longest client id accepted, in UTF-8 bytes (MQTT 3.1.1 itself allows 65535). */
export const MAX_CLIENT_ID_BYTES = 256
/** Refusals that say nothing about the credentials. */
const NOT_AUTH_FAILURES = new Set<RefusalReason>(['session_limit', 'auth_busy', 'client_id_taken', 'client_id_invalid'])

export type AuthDone = (err: AuthenticateError | null, ok: boolean | null) => void

export function createAuthenticate(ctx: AdmissionContext, accounts: Accounts) {
  const { counters, log, sessions } = ctx
  const allowAnonymous = ctx.config().mqtt.allowAnonymous
  // One identity's persistent sessions past the cap: the oldest idle one ends, counted and logged.
  const clientIds = new ClientIds((client, id, owner) => {
    const broker = brokerOf(client)
    broker.persistence.sessionClear(id)
    // An MQTT 5 session's expiry timer goes too: it would count against mqtt.maxExpiringSessions.
    broker.clearSessionExpiry(id)
    counters.refuse('session_evicted', owner)
    log.warn(
      {
        code: 'HF_WARN_SESSION_EVICTED',
        client: id,
        by: client.id,
        [owner.kind]: owner.id,
        limit: PERSISTENT_SESSIONS_PER_OWNER
      },
      'persistent session ended: its device or app keeps too many'
    )
  })
  const initial = ctx.config().mqtt
  const checker = new SecretChecker(accounts, initial.authFailuresPerMin, initial.authFailureBurst)

  /** True when `id` names a device or app, or is held by one (a live or persistent session). */
  function belongsToAccount(id: string): boolean {
    return (
      clientIds.isOwned(id) ||
      sessions.knows(id) ||
      Object.hasOwn(ctx.config().devices, id) ||
      accounts.lookup(id) !== undefined
    )
  }

  const refusalLogs = new LogThrottle<RefusalReason>()

  function refuseLogin(
    client: Client,
    done: AuthDone,
    reason: RefusalReason,
    code: ErrorCode,
    returnCode: number,
    fields: Record<string, unknown> = {}
  ): void {
    counters.refuse(reason)
    if (!NOT_AUTH_FAILURES.has(reason)) counters.authFailures++
    // A login loop would write a line per attempt (GBs a day from one address): each reason is
    // logged at most every 10 s, with how many were refused since.
    const held = refusalLogs.due(reason)
    if (held !== null)
      log.warn(
        { code, client: client.id, address: addressOf(client), ...fields, refusedSinceLastLog: held + 1 },
        'client refused'
      )
    // returnCode answers 3.1.1 clients, reasonCode (and the message as Reason String) MQTT 5 ones.
    const err = new HoldfastError(code, undefined, fields)
    err.message = `${code}: ${err.message}`
    const reasonCode = CONNACK_REASON[reason] ?? Reason.NOT_AUTHORIZED
    done(Object.assign(err, { returnCode, reasonCode }) as unknown as AuthenticateError, false)
  }

  /** The account is who the client says it is: check sessions, fix its per-connection state. */
  function logIn(client: Client, account: Account, bySecret: boolean, done: AuthDone): void {
    // A client id that names another provisioned device or app is reserved for it, held or not: else a
    // device could take it first (a persistent session keeps it until restart) and lock that one out.
    const named =
      client.id !== account.id &&
      (Object.hasOwn(ctx.config().devices, client.id) || accounts.lookup(client.id) !== undefined)
    if (named || !clientIds.claim(client, `${account.kind}:${account.id}`)) {
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
    const idBytes = Buffer.byteLength(client.id)
    if (idBytes > MAX_CLIENT_ID_BYTES) {
      return refuseLogin(client, done, 'client_id_invalid', 'HF_ERR_CLIENT_ID_INVALID', IDENTIFIER_REJECTED, {
        client: `${client.id.slice(0, 64)}…`,
        bytes: idBytes,
        limit: MAX_CLIENT_ID_BYTES
      })
    }
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
        // A provisioned identity's client id would hand its session (and queued commands) to anyone.
        if (belongsToAccount(client.id)) {
          return refuseLogin(client, done, 'client_id_taken', 'HF_ERR_CLIENT_ID_TAKEN', IDENTIFIER_REJECTED, {
            who: 'anonymous'
          })
        }
        sessions.open(client, 'anonymous', null, OPEN_ACL, null, false)
        return done(null, true)
      }
      return refuseLogin(client, done, 'anonymous', 'HF_ERR_AUTH_ANONYMOUS', NOT_AUTHORIZED)
    }
    checker.check(
      addressOf(client),
      username,
      password ?? Buffer.alloc(0),
      () => client.closed,
      o => {
        const f = { username }
        switch (o.kind) {
          case 'ok':
            return logIn(client, o.account, true, done)
          case 'bad':
            if (o.account.kind === 'device') counters.device(o.account.id).authFailed()
            return refuseLogin(client, done, 'bad_credentials', 'HF_ERR_AUTH_BAD_CREDENTIALS', BAD_CREDENTIALS, f)
          case 'unknown':
            return refuseLogin(client, done, 'unknown_identity', 'HF_ERR_AUTH_UNKNOWN', BAD_CREDENTIALS, f)
          case 'rate_limited':
            return refuseLogin(client, done, 'auth_rate_limited', 'HF_ERR_AUTH_RATE_LIMITED', NOT_AUTHORIZED, f)
          case 'gone':
            return
          case 'error':
          case 'busy':
            if (o.kind === 'error') log.error({ err: o.err, client: client.id }, 'secret check failed')
            return refuseLogin(client, done, 'auth_busy', 'HF_ERR_AUTH_BUSY', SERVER_UNAVAILABLE, f)
        }
      }
    )
  }

  return {
    authenticate,
    /** The device or app holding a client id (a persistent session's, also while it is away). */
    ownerOf: (clientId: string) => clientIds.ownerOf(clientId),
    /** A secret rotated or removed: forget its cached check. */
    forget: (name: string): void => checker.forget(name),
    /** Login rate limits changed (remote configuration). */
    reconfigure(prev: Readonly<Config>, next: Readonly<Config>): void {
      if (
        prev.mqtt.authFailuresPerMin !== next.mqtt.authFailuresPerMin ||
        prev.mqtt.authFailureBurst !== next.mqtt.authFailureBurst
      ) {
        checker.retune(next.mqtt.authFailuresPerMin, next.mqtt.authFailureBurst)
      }
    }
  }
}
