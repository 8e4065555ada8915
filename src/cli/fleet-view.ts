/**
 * Desired vs reported, from the two topics: what the config topic asks of each gateway (the
 * latest document per layer key) and what the status topic says it did (events, heartbeats).
 * Pure: messages in, rows out — `fleet status`, `--rollout` and `history` render them.
 */
import type { TopicMessage } from './fleet-kafka.js'

// biome-ignore lint/suspicious/noExplicitAny: free-form JSON read back from the status topic
export type Report = Record<string, any>

export interface Desired {
  key: string
  version: number | null
  at: string
}

/** A layer's latest document (or its deletion) that this gateway rejected or rolled back: it never comes back. */
export interface Refused {
  key: string
  /** The refused document's version; null for a deletion of the layer. */
  version: number | null
  outcome: 'rejected' | 'rolled-back'
  reason: string | null
}

export interface GatewayRow {
  gatewayId: string
  groups: string[]
  /**
   * Layer key → the version the gateway converges to, lowest layer first: the config topic's latest,
   * except on a layer whose latest document (or deletion) it rejected or rolled back — there what it
   * keeps for the layer (a refused document is not tried again until a newer one is pushed).
   */
  desired: Array<{ key: string; version: number | null }>
  /** Layers whose latest document (or deletion) this gateway refused, so `desired` keeps what is in force. */
  refused: Refused[]
  /** Layer key → version in force (last heartbeat). */
  reported: Array<{ key: string; version: number }>
  /** local | pending | confirmed | offline | unknown */
  state: string
  inSync: boolean
  overridden: string[]
  lastOutcome: Report | null
  heartbeat: Report | null
  heartbeatAgeS: number | null
  events: Report[]
}

const FLEET_KEY = '*'
/** The events that end (or start) the handling of one document. */
const OUTCOMES = new Set(['applied', 'confirmed', 'rejected', 'rolled-back', 'ignored'])
/** A gateway is offline when no heartbeat came for this many heartbeat intervals. */
export const OFFLINE_AFTER_INTERVALS = 2.5

/** The latest document per key on the config topic (tombstones remove). */
export function desiredLayers(messages: readonly TopicMessage[]): Map<string, Desired> {
  const out = new Map<string, Desired>()
  for (const m of messages) {
    if (m.key === null) continue
    if (m.value === null) {
      out.delete(m.key)
      continue
    }
    let version: number | null = null
    try {
      const v = (JSON.parse(m.value.toString('utf8')) as { document?: { version?: unknown } }).document?.version
      version = typeof v === 'number' ? v : null
    } catch {}
    out.set(m.key, { key: m.key, version, at: new Date(Number(m.timestamp)).toISOString() })
  }
  return out
}

/** Parsed status-topic reports; null for a message that is not one. */
export function parseReport(m: TopicMessage): Report | null {
  try {
    const r = JSON.parse(m.value?.toString('utf8') ?? '') as Report
    return typeof r === 'object' && r !== null && typeof r.type === 'string' && typeof r.gatewayId === 'string'
      ? r
      : null
  } catch {
    return null
  }
}

export function gatewayRows(
  reports: readonly Report[],
  desired: ReadonlyMap<string, Desired>,
  nowMs: number
): GatewayRow[] {
  const byGw = new Map<string, { heartbeat: Report | null; events: Report[] }>()
  for (const r of reports) {
    let g = byGw.get(r.gatewayId)
    if (g === undefined) byGw.set(r.gatewayId, (g = { heartbeat: null, events: [] }))
    if (r.type === 'heartbeat') g.heartbeat = r
    else if (!g.events.some(e => e.seq === r.seq && e.seq !== undefined)) g.events.push(r)
  }
  const rows: GatewayRow[] = []
  for (const [gatewayId, g] of byGw) {
    const hb = g.heartbeat
    const cfg = hb?.config ?? {}
    const groups: string[] = Array.isArray(cfg.groups) ? cfg.groups : []
    const keys = [FLEET_KEY, ...groups.map(x => `group:${x}`), gatewayId]
    const reported: Array<{ key: string; version: number }> = Array.isArray(cfg.layers) ? cfg.layers : []
    const want: GatewayRow['desired'] = []
    const refused: Refused[] = []
    for (const k of keys) {
      const onTopic = desired.get(k)?.version ?? null
      let last: Report | undefined
      for (let i = g.events.length - 1; i >= 0 && last === undefined; i--) {
        const e = g.events[i]!
        if (e.key === k && (e.version ?? null) === onTopic && OUTCOMES.has(e.type)) last = e
      }
      if (last?.type === 'rejected' || last?.type === 'rolled-back') {
        refused.push({ key: k, version: onTopic, outcome: last.type, reason: last.reason ?? null })
        const kept = reported.find(l => l.key === k)
        if (kept !== undefined) want.push({ key: k, version: kept.version })
      } else if (desired.has(k)) want.push({ key: k, version: onTopic })
    }
    const ageS = hb === null ? null : Math.max(0, (nowMs - Date.parse(hb.at)) / 1000)
    const intervalS = (typeof hb?.intervalMs === 'number' ? hb.intervalMs : 60_000) / 1000
    const last = g.events.at(-1) ?? null
    let state: string = typeof cfg.state === 'string' ? cfg.state : 'unknown'
    // An event newer than the last heartbeat says more (heartbeats go with events, but may be lost).
    if (last !== null && hb !== null && Date.parse(last.at) > Date.parse(hb.at) && last.type === 'applied')
      state = 'pending'
    if (ageS !== null && ageS > OFFLINE_AFTER_INTERVALS * intervalS) state = 'offline'
    const same = (a: { key: string; version: number | null }[], b: { key: string; version: number | null }[]) =>
      a.length === b.length && a.every((x, i) => x.key === b[i]!.key && x.version === b[i]!.version)
    rows.push({
      gatewayId,
      groups,
      desired: want,
      refused,
      reported,
      state,
      inSync: hb !== null && same(want, reported),
      overridden: Array.isArray(cfg.overridden) ? cfg.overridden : [],
      lastOutcome: last,
      heartbeat: hb,
      heartbeatAgeS: ageS === null ? null : Math.round(ageS),
      events: g.events
    })
  }
  return rows.sort((a, b) => a.gatewayId.localeCompare(b.gatewayId))
}

export type RolloutOutcome =
  | 'confirmed'
  | 'applied'
  | 'rolled-back'
  | 'rejected'
  | 'ignored'
  | 'not-yet-seen'
  | 'offline'
export const ROLLOUT_OUTCOMES: readonly RolloutOutcome[] = [
  'confirmed',
  'applied',
  'rolled-back',
  'rejected',
  'ignored',
  'not-yet-seen',
  'offline'
]

export interface Rollout {
  key: string
  version: number
  total: number
  counts: Record<RolloutOutcome, number>
  gateways: Array<{ gatewayId: string; outcome: RolloutOutcome; reason: string | null; message: string | null }>
  /** Every gateway that is online has a final outcome. */
  done: boolean
}

/** Does a document under `key` concern this gateway? */
function concerns(row: GatewayRow, key: string): boolean {
  if (key === FLEET_KEY) return true
  if (key.startsWith('group:')) return row.groups.includes(key.slice('group:'.length))
  return key === row.gatewayId
}

export function rollout(rows: readonly GatewayRow[], key: string, version: number): Rollout {
  const counts = Object.fromEntries(ROLLOUT_OUTCOMES.map(o => [o, 0])) as Record<RolloutOutcome, number>
  const gateways: Rollout['gateways'] = []
  for (const row of rows.filter(r => concerns(r, key))) {
    const mine = row.events.filter(e => e.key === key && e.version === version)
    const last = mine.at(-1)
    let outcome: RolloutOutcome
    if (last !== undefined) outcome = last.type as RolloutOutcome
    else if (row.state === 'offline') outcome = 'offline'
    else outcome = 'not-yet-seen'
    if (!ROLLOUT_OUTCOMES.includes(outcome)) outcome = 'not-yet-seen'
    counts[outcome]++
    gateways.push({
      gatewayId: row.gatewayId,
      outcome,
      reason: last?.reason ?? null,
      message: last?.message ?? null
    })
  }
  const done = gateways.every(g => g.outcome !== 'applied' && g.outcome !== 'not-yet-seen')
  return { key, version, total: gateways.length, counts, gateways, done }
}
