/**
 * Counters of what happened to readings, gateway-wide and per device. Every reading that
 * is not delivered is counted here with a reason; the status API and /metrics read it.
 */
export const DROP_REASONS = [
  'payload_too_large',
  'acl_denied',
  'invalid_topic',
  'store_error',
  'quota_storage',
  'quota_drop_oldest',
  'disk_budget',
  'disk_drop_oldest',
  'retained_limit',
  'will_rate_limited'
] as const
export type DropReason = (typeof DROP_REASONS)[number]

/**
 * Connections, logins and subscriptions refused (not readings): each bad input has a counted outcome.
 * `subscribe_rate_limited` counts SUBSCRIBE/UNSUBSCRIBE packets held (not refused) by the subscription rate quota.
 */
export const REFUSAL_REASONS = [
  'anonymous',
  'bad_credentials',
  'unknown_identity',
  'cert_mismatch',
  'auth_rate_limited',
  'auth_busy',
  'session_limit',
  'session_evicted',
  'client_id_taken',
  'client_id_invalid',
  'conn_limit',
  'conn_rate',
  'connect_timeout',
  'keepalive_limit',
  'protocol_error',
  'packet_too_large',
  'receive_maximum',
  'forward_too_large',
  'forward_queue_full',
  'tls_error',
  'tls_handshake_limit',
  'acl_subscribe',
  'subscription_limit',
  'subscribe_rate_limited',
  'invalid_topic'
] as const
export type RefusalReason = (typeof REFUSAL_REASONS)[number]

/** Whom a refusal is counted against besides the gateway: a device or an app account (null: nobody known). */
export interface Refused {
  kind: 'device' | 'app' | 'anonymous'
  id: string | null
}

/** Refusals of one device or app account, by reason, and when each last happened (epoch ms). */
export class RefusalTally {
  readonly refused: Partial<Record<RefusalReason, number>> = {}
  readonly refusedLastMs: Partial<Record<RefusalReason, number>> = {}

  count(reason: RefusalReason, n: number): void {
    this.refused[reason] = (this.refused[reason] ?? 0) + n
    this.refusedLastMs[reason] = Date.now()
  }
}

/** One open MQTT session of a device, as the status page's device view shows it. */
export interface SessionFacts {
  clientId: string
  /** MQTT protocol level: 4 = 3.1.1, 5 = 5.0. */
  protocolLevel: number | null
  address: string
  tls: boolean
  /** How the device proved who it is. */
  auth: 'password' | 'certificate' | 'anonymous'
  cleanSession: boolean
  sinceMs: number
}

/** A reading a device sent recently (the device view lists them; payloads only for technicians). */
export interface RecentReading {
  topic: string
  bytes: number
  eventMs: number | null
  recvMs: number
  /** The first PAYLOAD_PREVIEW bytes. */
  payload: Buffer
}

export const RECENT_READINGS = 10
export const PAYLOAD_PREVIEW = 256

export class DeviceStats extends RefusalTally {
  readonly id: string
  connections = 0
  lastSeenMs = 0
  received = 0
  stored = 0
  forwarded = 0
  /** Re-sent readings recognised and acknowledged without a second copy. */
  duplicates = 0
  authFailures = 0
  denials = 0
  /** MQTT version of the device's latest connection: '3.1', '3.1.1' or '5'; null before any. */
  protocol: string | null = null
  readonly dropped: Partial<Record<DropReason, number>> = {}
  /** When each drop reason last occurred (epoch ms). */
  readonly droppedLastMs: Partial<Record<DropReason, number>> = {}
  lastAuthFailureMs = 0
  lastDenialMs = 0
  /** Sessions opened since start, and when the last one opened and closed. */
  connects = 0
  lastConnectMs = 0
  lastDisconnectMs = 0
  readonly sessions = new Set<SessionFacts>()
  private readonly recent = new RecentRing()

  constructor(id: string) {
    super()
    this.id = id
  }

  /** A session opened; call the returned function when it closes. */
  openSession(facts: Omit<SessionFacts, 'sinceMs'>): () => void {
    const s: SessionFacts = { ...facts, sinceMs: Date.now() }
    this.sessions.add(s)
    this.connects++
    this.lastConnectMs = s.sinceMs
    return () => {
      if (this.sessions.delete(s)) this.lastDisconnectMs = Date.now()
    }
  }

  authFailed(): void {
    this.authFailures++
    this.lastAuthFailureMs = Date.now()
  }

  denied(): void {
    this.denials++
    this.lastDenialMs = Date.now()
  }

  noteReading(topic: string, payload: Buffer, eventMs: number | null): void {
    this.recent.note(topic, payload, eventMs, this.lastSeenMs || Date.now())
  }

  /** The last RECENT_READINGS readings, oldest first; each payload a copy of its preview. */
  recentReadings(): RecentReading[] {
    return this.recent.list()
  }
}

/** Per slot in RecentRing's `facts`: event time (NaN: none), receive time, size, preview length. */
const FACTS = 4

/**
 * A device's last RECENT_READINGS readings: their facts in one Float64Array and their previews side by
 * side in one Buffer, `stride` bytes each (growing to the longest preview seen, at most PAYLOAD_PREVIEW).
 * Two allocations a device, instead of an object, a Buffer and its ArrayBuffer a slot: with 1,000
 * devices that was 30,000 objects in the old generation and about 3 KB a device.
 */
class RecentRing {
  private readonly facts = new Float64Array(RECENT_READINGS * FACTS)
  private previews: Buffer | null = null
  private stride = 0
  private readonly topics: string[] = []
  private next = 0

  note(topic: string, payload: Buffer, eventMs: number | null, recvMs: number): void {
    const n = Math.min(payload.length, PAYLOAD_PREVIEW)
    if (n > this.stride) this.grow(n)
    const i = this.next
    // The topic of the reading before when it is the same: a device's usual topic is one string, not one
    // a slot (each parsed anew, and living long enough to reach the old generation).
    const before = this.topics[(i + RECENT_READINGS - 1) % RECENT_READINGS]
    this.topics[i] = before === topic ? before : topic
    const f = i * FACTS
    this.facts[f] = eventMs ?? Number.NaN
    this.facts[f + 1] = recvMs
    this.facts[f + 2] = payload.length
    this.facts[f + 3] = payload.copy(this.previews!, i * this.stride, 0, n)
    this.next = (i + 1) % RECENT_READINGS
  }

  list(): RecentReading[] {
    const out: RecentReading[] = []
    const filled = this.topics.length
    const start = filled < RECENT_READINGS ? 0 : this.next
    for (let k = 0; k < filled; k++) {
      const i = (start + k) % filled
      const f = i * FACTS
      const eventMs = this.facts[f]!
      const at = i * this.stride
      out.push({
        topic: this.topics[i]!,
        bytes: this.facts[f + 2]!,
        eventMs: Number.isNaN(eventMs) ? null : eventMs,
        recvMs: this.facts[f + 1]!,
        payload: Buffer.from(this.previews!.subarray(at, at + this.facts[f + 3]!))
      })
    }
    return out
  }

  /** Room for previews of n bytes: a wider stride, the previews so far copied over. */
  private grow(n: number): void {
    const stride = Math.min(PAYLOAD_PREVIEW, Math.max(n, this.stride * 2, 32))
    // Memory of its own: a slice of the shared pool would keep a whole 8 KB pool slab alive.
    const next = Buffer.allocUnsafeSlow(RECENT_READINGS * stride)
    const old = this.previews
    if (old !== null)
      for (let i = 0; i < this.topics.length; i++)
        old.copy(next, i * stride, i * this.stride, i * this.stride + this.facts[i * FACTS + 3]!)
    this.previews = next
    this.stride = stride
  }
}

export class AppStats extends RefusalTally {
  constructor(readonly id: string) {
    super()
  }
}

export class Counters {
  received = 0
  stored = 0
  forwarded = 0
  duplicates = 0
  authFailures = 0
  /** Rollup records made by closing windows (README "Aggregation, priorities and uplink budgets"). */
  rollups = 0
  /** Readings that arrived after their window had closed: they went into a late rollup. */
  lateReadings = 0
  /** Raw readings compacted into rollups under disk pressure (replaced, not dropped). */
  compacted = 0
  /** Rollup records Kafka acknowledged (not in `forwarded`, which counts devices' readings). */
  forwardedRollups = 0
  readonly dropped: Record<DropReason, number> = Object.fromEntries(DROP_REASONS.map(r => [r, 0])) as Record<
    DropReason,
    number
  >
  readonly refused: Record<RefusalReason, number> = Object.fromEntries(REFUSAL_REASONS.map(r => [r, 0])) as Record<
    RefusalReason,
    number
  >
  readonly devices = new Map<string, DeviceStats>()
  /** App accounts with a refusal counted against them (status API `apps[]`). */
  readonly apps = new Map<string, AppStats>()

  device(id: string): DeviceStats {
    let d = this.devices.get(id)
    if (d === undefined) this.devices.set(id, (d = new DeviceStats(id)))
    return d
  }

  /** A refusal, counted for the gateway and, when known, for the device or app account it concerns. */
  refuse(reason: RefusalReason, who: Refused | null = null, n = 1): void {
    this.refused[reason] += n
    if (who === null || who.id === null) return
    if (who.kind === 'device') this.device(who.id).count(reason, n)
    else if (who.kind === 'app') this.app(who.id).count(reason, n)
  }

  app(name: string): AppStats {
    let a = this.apps.get(name)
    if (a === undefined) this.apps.set(name, (a = new AppStats(name)))
    return a
  }

  drop(device: string | null, reason: DropReason, n = 1): void {
    this.dropped[reason] += n
    if (device !== null) {
      const d = this.device(device)
      d.dropped[reason] = (d.dropped[reason] ?? 0) + n
      d.droppedLastMs[reason] = Date.now()
    }
  }
}
