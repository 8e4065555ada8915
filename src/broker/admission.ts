/**
 * The admission step: the only place a device's PUBLISH becomes a stored reading.
 * The durable write happens inside authorizePublish because aedes writes the QoS 1
 * PUBACK right after that callback and before the `published` hook
 * (node_modules/aedes/lib/handlers/publish.js): holding the callback until the group
 * commit is what makes "PUBACK ⇒ on disk" true. Holding it also pauses the client's
 * socket reads, so a flooding device is slowed through TCP — which is how rate quotas work:
 * a device over its messages/s or bytes/s has the callback held until its tokens allow.
 *
 * Everything a publish needs is worked out once at CONNECT (identity, ACL prefix, limits, the
 * device's buckets); per publish it is a prefix test, a bucket take and the append.
 */
import type { AuthenticateError, Client, PublishPacket, Subscription } from 'aedes'
import type { Config } from '../config/schema.js'
import { HoldfastError, type ErrorCode } from '../errors.js'
import type { Logger } from '../log.js'
import type { Counters, DeviceStats, DropReason, RefusalReason } from '../metrics/counters.js'
import { rowBytes, type ReadingBuffer } from '../store/buffer.js'
import { deviceOfTopic, eventTimeOf } from '../codec/reading.js'
import { RECENT_PER_DEVICE } from '../store/recent.js'
import { Accounts, type Account } from '../identity/accounts.js'
import { DeviceAcl, OPEN_ACL, type Acl } from '../identity/acl.js'
import { certIdentity } from '../identity/cert.js'
import { SecretCache, verifySecret } from '../identity/secret.js'
import { KeyedBuckets } from '../quota/keyed.js'
import { QuotaBook, type DeviceLimits } from '../quota/limits.js'
import { StorageGuard } from '../quota/storage.js'
import { Throttle } from '../quota/throttle.js'
import type { Classifier } from '../aggregate/classify.js'
import type { Relief } from '../aggregate/pressure.js'

export interface AdmissionOptions {
  config: Readonly<Config>
  buffer: ReadingBuffer
  counters: Counters
  log: Logger
  /** Priority, kind and parsed metrics of a reading (src/aggregate/classify.ts); absent = raw, priority 0. */
  classify?: Classifier
  /** Degrade before dropping (src/aggregate/pressure.ts): runs before the storage quotas decide. */
  relieve?: Relief
}

/** A device's state shared by all its sessions: limits, rate buckets, sessions, retained topics. */
interface DeviceRuntime {
  id: string
  acl: DeviceAcl
  limits: Readonly<DeviceLimits>
  throttle: Throttle
  sessions: Set<Client>
  retained: Set<string>
  stats: DeviceStats
}

/** Per-connection facts kept beside aedes' client, fixed at CONNECT. */
interface ConnState {
  kind: 'device' | 'app' | 'anonymous'
  /** Device id or app name; null when anonymous. */
  id: string | null
  acl: Acl
  device: DeviceRuntime | null
  payloadLimit: number
  /** Logged in with a secret (closed when that secret is rotated or removed). */
  bySecret: boolean
  publishes: number
  subs: Set<string>
  retained: Set<string>
  /** Anonymous connections: the device whose topics this connection last published to. */
  seenDevice: string | null
  warnings: number
}

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
/** Longest topic accepted, in characters. Every stored reading carries its topic. */
export const MAX_TOPIC_LENGTH = 1024
/** U+FFFD stands for bytes that were not UTF-8 (mqtt-packet decodes leniently); U+0000 is forbidden. [MQTT-1.5.3-1] [MQTT-1.5.3-2] */
const BAD_TOPIC_CHARS = /[\u0000\uFFFD]/
/** Client ids remembered with their owner; past this the oldest idle ones are forgotten. */
const MAX_OWNED_CLIENT_IDS = 100_000
/** Per connection, the first few refusals are logged at warn, the rest at debug (no log floods). */
const WARNINGS_PER_CONNECTION = 5

type AuthDone = (err: AuthenticateError | null, ok: boolean | null) => void

export function createAdmission(opts: AdmissionOptions) {
  const { buffer, counters, log } = opts
  /** Replaced whole by reconfigure() (remote configuration); read per use, never cached. */
  let config = opts.config
  const allowAnonymous = config.mqtt.allowAnonymous
  const conns = new WeakMap<Client, ConnState>()
  const runtimes = new Map<string, DeviceRuntime>()
  const accounts = new Accounts({ devices: config.devices, apps: config.apps, dataDir: config.dataDir, log })
  let book = new QuotaBook(config)
  const storage = new StorageGuard({
    buffer,
    book,
    maxBytes: config.store.maxBytes,
    minFreeBytes: config.store.minFreeBytes,
    dataDir: config.dataDir,
    counters,
    log
  })
  const cache = new SecretCache()
  let authFailures = new KeyedBuckets(config.mqtt.authFailuresPerMin / 60, config.mqtt.authFailureBurst)
  /** App accounts' live connections, so a changed or removed account can end them. */
  const appSessions = new Map<string, Set<Client>>()
  /**
   * aedes hands a client id's session to whoever connects with it [MQTT-3.1.4-2]: without an owner,
   * a device could kick another off, or inherit a persistent session's queued messages, by using
   * its client id. An id belongs to the device or app that holds it, while connected and, for
   * persistent sessions (clean=false), until restart (aedes keeps those sessions in memory).
   */
  const clientOwners = new Map<string, { owner: string; live: number; persistent: boolean }>()
  let verifying = 0

  storage.start()
  accounts.watch(ids => closeSecretSessions(ids))

  /** A rotated or removed secret ends the sessions opened with it. */
  function closeSecretSessions(ids: string[]): void {
    for (const id of ids) {
      cache.forget(id)
      for (const c of runtimes.get(id)?.sessions ?? []) {
        if (conns.get(c)?.bySecret === true) {
          log.info(
            { code: 'HF_ERR_AUTH_SECRET_ROTATED', device: id, client: c.id },
            'closing a session opened with a secret that was rotated or removed'
          )
          c.close()
        }
      }
    }
  }

  function runtimeOf(id: string): DeviceRuntime {
    let rt = runtimes.get(id)
    if (rt === undefined) {
      const limits = book.of(id)
      rt = {
        id,
        acl: new DeviceAcl(id),
        limits,
        throttle: new Throttle(limits.msgsPerS, limits.msgsBurst, limits.bytesPerS, limits.bytesBurst),
        sessions: new Set(),
        retained: new Set(),
        stats: counters.device(id)
      }
      runtimes.set(id, rt)
    }
    return rt
  }

  function warn(state: ConnState | undefined, fields: Record<string, unknown>, msg: string): void {
    if (state === undefined || state.warnings++ < WARNINGS_PER_CONNECTION) log.warn(fields, msg)
    else log.debug(fields, msg)
  }

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

  function addressOf(client: Client): string {
    return (client.conn as { remoteAddress?: string }).remoteAddress ?? 'unknown'
  }

  function newState(
    kind: ConnState['kind'],
    id: string | null,
    acl: Acl,
    device: DeviceRuntime | null,
    bySecret: boolean
  ): ConnState {
    return {
      kind,
      id,
      acl,
      device,
      bySecret,
      payloadLimit: device?.limits.payloadLimit ?? config.mqtt.maxPayloadBytes,
      publishes: 0,
      subs: new Set(),
      retained: new Set(),
      seenDevice: null,
      warnings: 0
    }
  }

  /** Claim the client id for `owner`; false when another identity holds it. */
  function claimClientId(client: Client, owner: string): boolean {
    const id = client.id
    let o = clientOwners.get(id)
    if (o !== undefined && o.owner !== owner) return false
    if (o === undefined) {
      if (clientOwners.size >= MAX_OWNED_CLIENT_IDS) {
        for (const [k, v] of clientOwners)
          if (v.live === 0) {
            clientOwners.delete(k)
            break
          }
      }
      clientOwners.set(id, (o = { owner, live: 0, persistent: false }))
    }
    o.live++
    o.persistent ||= !client.clean
    const entry = o
    client.conn.once('close', () => {
      entry.live--
      if (entry.live === 0 && !entry.persistent && clientOwners.get(id) === entry) clientOwners.delete(id)
    })
    return true
  }

  /** The account is who the client says it is: check sessions, fix its per-connection state. */
  function logIn(client: Client, account: Account, bySecret: boolean, done: AuthDone): void {
    if (!claimClientId(client, `${account.kind}:${account.id}`)) {
      return refuseLogin(client, done, 'client_id_taken', 'HF_ERR_CLIENT_ID_TAKEN', IDENTIFIER_REJECTED, {
        who: account.id
      })
    }
    if (account.kind === 'app') {
      conns.set(client, newState('app', account.id, account.acl, null, bySecret))
      let own = appSessions.get(account.id)
      if (own === undefined) appSessions.set(account.id, (own = new Set()))
      own.add(client)
      client.conn.once('close', () => {
        own.delete(client)
        if (own.size === 0 && appSessions.get(account.id) === own) appSessions.delete(account.id)
      })
      return done(null, true)
    }
    const rt = runtimeOf(account.id)
    // A reconnect with the same client id takes the old session over [MQTT-3.1.4-2]: not a second session.
    let others = 0
    for (const c of rt.sessions) if (c.id !== client.id) others++
    if (others >= rt.limits.maxSessions) {
      return refuseLogin(client, done, 'session_limit', 'HF_ERR_SESSION_LIMIT', SERVER_UNAVAILABLE, {
        device: rt.id,
        limit: rt.limits.maxSessions
      })
    }
    rt.sessions.add(client)
    rt.stats.connections++
    client.conn.once('close', () => {
      rt.sessions.delete(client)
      rt.stats.connections--
    })
    conns.set(client, newState('device', rt.id, rt.acl, rt, bySecret))
    done(null, true)
  }

  function reject(
    client: Client,
    state: ConnState | undefined,
    device: string | null,
    reason: DropReason,
    err: HoldfastError,
    cb: (e?: Error | null) => void
  ): void {
    counters.drop(device, reason)
    if (reason === 'acl_denied' && state?.device != null) state.device.stats.denials++
    warn(state, { code: err.code, client: client.id, device, ...err.details }, err.message)
    cb(err)
  }

  /** After ACL, payload and rate checks: count, de-duplicate, apply storage quotas, append. */
  function store(
    client: Client,
    state: ConnState,
    packet: PublishPacket,
    device: string | null,
    cb: (err?: Error | null) => void,
    held: boolean
  ): void {
    // Held past the end of its connection: never acknowledged, so the device still has it. Not stored.
    if (held && client.closed) return
    if (device === null) return cb(null)
    const topic = packet.topic
    const payload = packet.payload as Buffer
    const stats = state.device?.stats ?? counters.device(device)
    stats.received++
    stats.lastSeenMs = Date.now()
    counters.received++
    if (state.kind === 'anonymous' && state.seenDevice !== device) {
      if (state.seenDevice !== null) counters.device(state.seenDevice).connections--
      state.seenDevice = device
      stats.connections++
    }
    // A QoS 2 retransmission still awaiting PUBREL was stored the first time. [MQTT-4.3.3-2]
    if (
      packet.qos === 2 &&
      (client as unknown as { _inboundInflight?: Set<number> })._inboundInflight?.has(packet.messageId!) === true
    ) {
      return cb(null)
    }
    const c = opts.classify?.(topic, payload)
    const reading =
      c === undefined
        ? { device, topic, payload, eventMs: eventTimeOf(payload), qos: packet.qos }
        : {
            device,
            topic,
            payload,
            eventMs: c.meta !== undefined ? c.eventMs! : eventTimeOf(payload),
            qos: packet.qos,
            cls: c.cls,
            kind: c.kind,
            keepMs: c.keepMs,
            meta: c.meta
          }
    // Re-sends come flagged DUP or, from clients that do not flag them, first on a new connection.
    const fresh = state.publishes++ < RECENT_PER_DEVICE
    if ((packet.dup || fresh) && buffer.isResend(reading)) {
      counters.duplicates++
      stats.duplicates++
      return cb(null)
    }
    opts.relieve?.(rowBytes(topic, payload), storage.budget())
    const verdict = storage.admit(device, rowBytes(topic, payload))
    if (verdict !== null) {
      const err =
        verdict === 'quota_storage'
          ? new HoldfastError('HF_ERR_QUOTA_STORAGE', undefined, {
              policy: book.of(device).storagePolicy,
              buffered: buffer.projectedOf(device)
            })
          : new HoldfastError('HF_ERR_DISK_BUDGET', undefined, { budgetBytes: Math.round(storage.budget()) })
      return reject(client, state, device, verdict, err, cb)
    }
    buffer.append(reading, err => {
      if (err !== null) return reject(client, state, device, 'store_error', err, cb)
      counters.stored++
      stats.stored++
      cb(null)
    })
  }

  return {
    authenticate(client: Client, username: string | undefined, password: Buffer | undefined, done: AuthDone): void {
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
          conns.set(client, newState('anonymous', null, OPEN_ACL, null, false))
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
    },

    authorizePublish(client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void): void {
      if (client === null) return cb(null)
      const state = conns.get(client)
      const topic = packet.topic
      if (state === undefined)
        return cb(new HoldfastError('HF_ERR_ACL_PUBLISH', 'publish from a client that never logged in'))
      if (topic.length > MAX_TOPIC_LENGTH || BAD_TOPIC_CHARS.test(topic)) {
        return reject(
          client,
          state,
          state.device?.id ?? null,
          'invalid_topic',
          new HoldfastError('HF_ERR_TOPIC_INVALID', undefined, { length: topic.length }),
          cb
        )
      }
      if (!state.acl.canPublish(topic)) {
        const own =
          state.device !== null
            ? state.device.acl.prefix + '…'
            : state.kind === 'app'
              ? "the app's write filters"
              : 'anything but $ topics'
        return reject(
          client,
          state,
          state.device?.id ?? null,
          'acl_denied',
          new HoldfastError('HF_ERR_ACL_PUBLISH', undefined, { topic, allowed: own }),
          cb
        )
      }
      const device = state.device !== null ? state.device.id : deviceOfTopic(topic)
      const payload = packet.payload as Buffer
      if (payload.length > state.payloadLimit) {
        if (device !== null) {
          counters.device(device).received++
          counters.received++
        }
        return reject(
          client,
          state,
          device,
          'payload_too_large',
          new HoldfastError('HF_ERR_PAYLOAD_TOO_LARGE', undefined, {
            bytes: payload.length,
            limit: state.payloadLimit
          }),
          cb
        )
      }
      if (packet.retain) {
        const held = state.device?.retained ?? state.retained
        if (payload.length === 0) held.delete(topic)
        else if (!held.has(topic)) {
          if (held.size >= config.mqtt.maxRetainedPerClient) {
            return reject(
              client,
              state,
              device,
              'retained_limit',
              new HoldfastError('HF_ERR_RETAINED_LIMIT', undefined, { topic, limit: config.mqtt.maxRetainedPerClient }),
              cb
            )
          }
          held.add(topic)
        }
      }
      // Wills are published after the connection closed: they skip the rate (one per connection).
      const rt = state.device
      if (rt === null || client.closed) return store(client, state, packet, device, cb, false)
      if (rt.throttle.pass(payload.length)) store(client, state, packet, device, cb, false)
      else rt.throttle.hold(() => store(client, state, packet, device, cb, true))
    },

    authorizeSubscribe(
      client: Client,
      sub: Subscription,
      cb: (err: Error | null, sub?: Subscription | null) => void
    ): void {
      const state = conns.get(client)
      const filter = sub.topic
      if (state === undefined) return cb(null, null)
      if (filter.length > MAX_TOPIC_LENGTH || BAD_TOPIC_CHARS.test(filter)) {
        // Not UTF-8: the spec says close the connection. [MQTT-1.5.3-1]
        counters.refuse('invalid_topic')
        warn(
          state,
          { code: 'HF_ERR_TOPIC_INVALID', client: client.id, length: filter.length },
          'subscription filter invalid'
        )
        return cb(new HoldfastError('HF_ERR_TOPIC_INVALID', undefined, { length: filter.length }))
      }
      if (!state.acl.canSubscribe(filter)) {
        // Refused with SUBACK 0x80 for that filter; the connection and its other filters stay. [MQTT-3.9.3]
        counters.refuse('acl_subscribe')
        if (state.device !== null) state.device.stats.denials++
        warn(state, { code: 'HF_ERR_ACL_SUBSCRIBE', client: client.id, who: state.id, filter }, 'subscription refused')
        return cb(null, null)
      }
      if (!state.subs.has(filter) && state.subs.size >= config.mqtt.maxSubscriptionsPerClient) {
        counters.refuse('subscription_limit')
        warn(
          state,
          { code: 'HF_ERR_SUBSCRIPTION_LIMIT', client: client.id, limit: config.mqtt.maxSubscriptionsPerClient },
          'subscription refused'
        )
        return cb(null, null)
      }
      state.subs.add(filter)
      cb(null, sub)
    },

    /** aedes 'unsubscribe' event: frees room under maxSubscriptionsPerClient. */
    unsubscribed(filters: string[], client: Client): void {
      const state = conns.get(client)
      if (state !== undefined) for (const f of filters) state.subs.delete(f)
    },

    clientGone(client: Client): void {
      const state = conns.get(client)
      if (state?.seenDevice != null) counters.device(state.seenDevice).connections--
      conns.delete(client)
    },

    /** The device a connection speaks for (authenticated devices only). */
    deviceOf(client: Client): string | null {
      return conns.get(client)?.device?.id ?? null
    },

    /** Largest MQTT packet worth reading: the largest payload allowed plus a topic and headers. */
    maxPacketBytes(): number {
      return config.mqtt.maxPayloadBytes + 65_536 + 16
    },

    /** The per-device `quota` object of /api/status: limits, usage, drops. */
    quotaOf(id: string) {
      const l = book.of(id)
      const rt = runtimes.get(id)
      const u = buffer.usageOf(id)
      const d = counters.devices.get(id)?.dropped ?? {}
      return {
        limits: {
          msgsPerS: l.msgsPerS,
          msgsBurst: l.msgsBurst,
          bytesPerS: l.bytesPerS,
          bytesBurst: l.bytesBurst,
          maxPayloadBytes: l.payloadLimit,
          maxBufferedReadings: l.maxBufferedReadings,
          maxBufferedBytes: l.maxBufferedBytes,
          maxSessions: l.maxSessions,
          storagePolicy: l.storagePolicy
        },
        usage: {
          bufferedReadings: u.readings,
          bufferedBytes: u.bytes,
          sessions: rt?.sessions.size ?? 0,
          heldPublishes: rt?.throttle.held ?? 0,
          throttledPublishes: rt?.throttle.throttled ?? 0
        },
        drops: {
          payload_too_large: d.payload_too_large ?? 0,
          quota_storage: d.quota_storage ?? 0,
          quota_drop_oldest: d.quota_drop_oldest ?? 0,
          disk_budget: d.disk_budget ?? 0,
          disk_drop_oldest: d.disk_drop_oldest ?? 0,
          retained_limit: d.retained_limit ?? 0
        }
      }
    },

    storageView: () => storage.view(),

    /**
     * Live reconfiguration (remote configuration): checks `next` (throws a config error, nothing
     * changed) and returns the swap. Devices, apps, quotas, the disk budget and login/subscription
     * limits change in place; connections stay, except those whose secret or app account changed.
     */
    reconfigure(next: Readonly<Config>): () => void {
      const takeAccounts = accounts.reconfigure(next.devices, next.apps)
      const nextBook = new QuotaBook(next)
      return () => {
        const prev = config
        config = next
        book = nextBook
        storage.reconfigure({ book, maxBytes: next.store.maxBytes, minFreeBytes: next.store.minFreeBytes })
        if (
          prev.mqtt.authFailuresPerMin !== next.mqtt.authFailuresPerMin ||
          prev.mqtt.authFailureBurst !== next.mqtt.authFailureBurst
        ) {
          authFailures = new KeyedBuckets(next.mqtt.authFailuresPerMin / 60, next.mqtt.authFailureBurst)
        }
        for (const rt of runtimes.values()) {
          const l = book.of(rt.id)
          const o = rt.limits
          if (
            l.msgsPerS !== o.msgsPerS ||
            l.msgsBurst !== o.msgsBurst ||
            l.bytesPerS !== o.bytesPerS ||
            l.bytesBurst !== o.bytesBurst
          ) {
            rt.throttle.retune(l.msgsPerS, l.msgsBurst, l.bytesPerS, l.bytesBurst)
          }
          rt.limits = l
          for (const c of rt.sessions) {
            const st = conns.get(c)
            if (st !== undefined) st.payloadLimit = l.payloadLimit
          }
        }
        const changed = takeAccounts()
        closeSecretSessions(changed.devices)
        for (const name of changed.apps) {
          cache.forget(name)
          for (const c of appSessions.get(name) ?? []) {
            log.info(
              { code: 'HF_ERR_AUTH_ACCOUNT_CHANGED', app: name, client: c.id },
              'closing an app session: its account changed'
            )
            c.close()
          }
        }
      }
    },
    accounts,

    close(): void {
      accounts.close()
      storage.close()
    }
  }
}

export type Admission = ReturnType<typeof createAdmission>
