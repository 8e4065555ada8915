/**
 * Who is connected: per-connection facts fixed at CONNECT, and per-device state shared by all of a
 * device's sessions (limits, rate buckets). Everything a publish needs is worked
 * out here once, so a publish costs a prefix test, a bucket take and the append.
 */
import { LogThrottle } from '../log-throttle.js'
import type { Client } from 'aedes'
import type { Config } from '../config/schema.js'
import { DeviceAcl, type Acl } from '../identity/acl.js'
import type { Logger } from '../log.js'
import type { Counters, DeviceStats, SessionFacts } from '../metrics/counters.js'
import type { DeviceLimits, QuotaBook } from '../quota/limits.js'
import { FilterRate } from '../quota/filter-rate.js'
import { Throttle } from '../quota/throttle.js'
import { Reason } from './reason-codes.js'
import { RetainedBook } from './retained-book.js'

/** A device's state shared by all its sessions: limits, rate buckets, sessions. */
export interface DeviceRuntime {
  id: string
  acl: DeviceAcl
  limits: Readonly<DeviceLimits>
  throttle: Throttle
  /** SUBSCRIBE/UNSUBSCRIBE filters per second (subscribe-rate.ts), shared by its sessions. */
  filterRate: FilterRate
  sessions: Set<Client>
  stats: DeviceStats
}

/** Per-connection facts kept beside aedes' client, fixed at CONNECT. */
export interface ConnState {
  kind: 'device' | 'app' | 'anonymous'
  /** Device id or app name; null when anonymous. */
  id: string | null
  acl: Acl
  device: DeviceRuntime | null
  /** The subscription rate quota: the device's or app's, an anonymous connection's own. */
  filterRate: FilterRate
  payloadLimit: number
  /** Logged in with a secret (closed when that secret is rotated or removed). */
  bySecret: boolean
  publishes: number
  subs: Set<string>
  /** Holder of its retained topics (retained-book.ts): the device or app, or this anonymous connection. */
  retainer: string
  /** Anonymous connections: the device whose topics this connection last published to. */
  seenDevice: string | null
  /** Anonymous connections: ends the session shown in that device's view. */
  closeSession?: () => void
  warnings: number
  /** MQTT 5: QoS 1/2 publishes received and not yet acknowledged, and the Receive Maximum they may reach. */
  inflight: number
  receiveMaximum: number
  /**
   * QoS 2 packet ids of this connection between admission and aedes' incoming store, each with the
   * re-sends of it that wait for its outcome (authorize-publish.ts).
   */
  qos2Admitting: Map<number, Array<() => void>>
  /** The connection has ended (its state is kept for an MQTT 5 will published after a Will Delay). */
  gone: boolean
}

/** The MQTT version a client connected with, as people name it. */
export function protocolName(version: number): string {
  return version === 5 ? '5' : version === 3 ? '3.1' : '3.1.1'
}

/** MQTT 5 clients are told why (DISCONNECT 0x98 Administrative action); 3.1.1 ones are closed. */
function adminDisconnect(client: Client, why: string): void {
  client.disconnect({ reasonCode: Reason.ADMINISTRATIVE_ACTION, properties: { reasonString: why } }, () => {})
}

/** What the device view shows of a session: client id, protocol, address, TLS, how it logged in. */
export function sessionFacts(client: Client, auth: SessionFacts['auth']): Omit<SessionFacts, 'sinceMs'> {
  return {
    clientId: client.id,
    protocolLevel: (client as unknown as { version?: number | null }).version ?? null,
    address: (client.conn as { remoteAddress?: string }).remoteAddress ?? 'unknown',
    tls: (client.conn as { encrypted?: boolean }).encrypted === true,
    auth,
    cleanSession: client.clean
  }
}

/** Per connection, the first few refusals are logged at warn, the rest at debug (no log floods). */
const WARNINGS_PER_CONNECTION = 5

export class Sessions {
  private readonly conns = new WeakMap<Client, ConnState>()
  /** Ended connections' state, for a will aedes publishes after its Will Delay Interval. */
  private readonly departed = new WeakMap<Client, ConnState>()
  /** The same warning for one device or app (identity and code) is logged at most every 10 s. */
  private readonly warnLogs = new LogThrottle()
  private readonly runtimes = new Map<string, DeviceRuntime>()
  /** App accounts' live connections, so a changed or removed account can end them. */
  private readonly apps = new Map<string, Set<Client>>()
  /** App accounts' subscription rate quotas, across their connections and reconnects. */
  private readonly appFilterRates = new Map<string, FilterRate>()
  /** Retained topics per device, app account or anonymous connection, across reconnects. */
  readonly retained = new RetainedBook()
  private anonymousSeq = 0

  constructor(
    private readonly counters: Counters,
    private readonly log: Logger,
    private readonly config: () => Readonly<Config>,
    private readonly book: () => QuotaBook
  ) {}

  of(client: Client): ConnState | undefined {
    return this.conns.get(client)
  }

  /** A device has had a session since start. */
  knows(id: string): boolean {
    return this.runtimes.has(id)
  }

  runtime(id: string): DeviceRuntime | undefined {
    return this.runtimes.get(id)
  }

  runtimeOf(id: string): DeviceRuntime {
    let rt = this.runtimes.get(id)
    if (rt === undefined) {
      const limits = this.book().of(id)
      rt = {
        id,
        acl: new DeviceAcl(id),
        limits,
        throttle: new Throttle(limits.msgsPerS, limits.msgsBurst, limits.bytesPerS, limits.bytesBurst),
        filterRate: new FilterRate(limits.subscribeFiltersPerS, limits.subscribeFiltersBurst),
        sessions: new Set(),
        stats: this.counters.device(id)
      }
      this.runtimes.set(id, rt)
    }
    return rt
  }

  /** Fix the connection's state at CONNECT. */
  open(
    client: Client,
    kind: ConnState['kind'],
    id: string | null,
    acl: Acl,
    device: DeviceRuntime | null,
    bySecret: boolean
  ): void {
    const limits = device?.limits ?? this.book().defaults
    const receiveMaximum = limits.receiveMaximum
    let filterRate = device?.filterRate
    if (filterRate === undefined && kind === 'app') filterRate = this.appFilterRates.get(id!)
    if (filterRate === undefined) {
      filterRate = new FilterRate(limits.subscribeFiltersPerS, limits.subscribeFiltersBurst)
      if (kind === 'app') this.appFilterRates.set(id!, filterRate)
    }
    // Read by the patched aedes when it writes an MQTT 5 CONNACK.
    ;(client as Client & { serverReceiveMaximum?: number }).serverReceiveMaximum = receiveMaximum
    this.conns.set(client, {
      inflight: 0,
      qos2Admitting: new Map(),
      receiveMaximum,
      gone: false,
      kind,
      id,
      acl,
      device,
      filterRate,
      bySecret,
      payloadLimit: device?.limits.payloadLimit ?? this.config().mqtt.maxPayloadBytes,
      publishes: 0,
      subs: new Set(),
      retainer: kind === 'anonymous' ? `anonymous:${this.anonymousSeq++}` : `${kind}:${id!}`,
      seenDevice: null,
      warnings: 0
    })
  }

  /** An app account's connection, ended when the account changes. */
  openApp(client: Client, name: string, acl: Acl, bySecret: boolean): void {
    this.open(client, 'app', name, acl, null, bySecret)
    let own = this.apps.get(name)
    if (own === undefined) this.apps.set(name, (own = new Set()))
    own.add(client)
    client.conn.once('close', () => {
      own.delete(client)
      if (own.size === 0 && this.apps.get(name) === own) this.apps.delete(name)
    })
  }

  /** A device's connection: counted in its sessions until it closes. */
  openDevice(client: Client, rt: DeviceRuntime, bySecret: boolean): void {
    rt.sessions.add(client)
    rt.stats.connections++
    rt.stats.protocol = protocolName(client.version)
    const closed = rt.stats.openSession(sessionFacts(client, bySecret ? 'password' : 'certificate'))
    client.conn.once('close', () => {
      rt.sessions.delete(client)
      rt.stats.connections--
      closed()
    })
    this.open(client, 'device', rt.id, rt.acl, rt, bySecret)
  }

  gone(client: Client): void {
    const state = this.conns.get(client)
    if (state?.seenDevice != null) this.counters.device(state.seenDevice).connections--
    if (state?.kind === 'anonymous') this.retained.forget(state.retainer)
    state?.closeSession?.()
    this.conns.delete(client)
    if (state !== undefined) {
      state.gone = true
      this.departed.set(client, state)
    }
  }

  /** The state a closed connection had: its delayed will is authorized with the rights it logged in with. */
  ofDeparted(client: Client): ConnState | undefined {
    return client.closed ? this.departed.get(client) : undefined
  }

  warn(state: ConnState | undefined, fields: Record<string, unknown>, msg: string): void {
    if (state !== undefined && state.warnings++ >= WARNINGS_PER_CONNECTION) return this.log.debug(fields, msg)
    // Per identity and code too, at most every 10 s: a device reconnecting in a loop, refused each time,
    // wrote a line per publish (the counters count every one).
    if (state?.id != null) {
      const held = this.warnLogs.due(`${state.id}\u0000${String(fields.code)}`)
      if (held === null) return this.log.debug(fields, msg)
      if (held > 0) return this.log.warn({ ...fields, suppressedSinceLastLog: held }, msg)
    }
    this.log.warn(fields, msg)
  }

  /** A rotated or removed secret ends the sessions opened with it. */
  closeSecretSessions(id: string): void {
    for (const c of this.runtimes.get(id)?.sessions ?? []) {
      if (this.conns.get(c)?.bySecret === true) {
        this.log.info(
          { code: 'HF_ERR_AUTH_SECRET_ROTATED', device: id, client: c.id },
          'closing a session opened with a secret that was rotated or removed'
        )
        adminDisconnect(c, 'HF_ERR_AUTH_SECRET_ROTATED: the secret this session was opened with was rotated or removed')
      }
    }
  }

  /** A changed or removed app account ends its sessions. */
  closeAppSessions(name: string): void {
    for (const c of this.apps.get(name) ?? []) {
      this.log.info(
        { code: 'HF_ERR_AUTH_ACCOUNT_CHANGED', app: name, client: c.id },
        'closing an app session: its account changed'
      )
      adminDisconnect(c, 'HF_ERR_AUTH_ACCOUNT_CHANGED: the app account this session was opened with changed')
    }
  }

  /** New limits (remote configuration): rate buckets retuned, payload limits changed in place. */
  retune(book: QuotaBook): void {
    const d = book.defaults
    for (const r of this.appFilterRates.values()) r.retune(d.subscribeFiltersPerS, d.subscribeFiltersBurst)
    for (const rt of this.runtimes.values()) {
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
      rt.filterRate.retune(l.subscribeFiltersPerS, l.subscribeFiltersBurst)
      rt.limits = l
      for (const c of rt.sessions) {
        const st = this.conns.get(c)
        if (st !== undefined) st.payloadLimit = l.payloadLimit
      }
    }
  }
}
