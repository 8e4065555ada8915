/**
 * The document behind /api/status, the page's live feed and the diagnostics bundle: the
 * status snapshot (stable field names, see snapshot.ts) plus what the page needs to be
 * useful at a glance — host health, rates, a verdict, uplink history, recent problems.
 */
import type { Config } from '../config/schema.js'
import type { LogEntry, LogRing } from '../log-ring.js'
import type { HostMonitor } from '../metrics/host.js'
import type { RateHistory } from '../metrics/history.js'
import { quotaShare, quotaUsage } from '../metrics/quota-view.js'
import { budgetFigures } from '../metrics/budget-figures.js'
import { diskOutlook } from './disk-outlook.js'
import { assess } from './health.js'
import type { HostVerdicts } from './host-verdict.js'
import { statusSnapshot, type StatusSources } from './snapshot.js'

export interface DocumentSources {
  sources: StatusSources
  config: Readonly<Config>
  host: HostMonitor
  history: RateHistory
  logs: LogRing
  ready: () => { ok: boolean; checks: Record<string, boolean> }
  /** CPU and memory verdicts with hysteresis, and Holdfast's own use (stateful: one per server). */
  hostVerdicts: HostVerdicts
}

const PROBLEMS_SHOWN = 30
const ERROR_WINDOW_MS = 15 * 60_000

export function statusDocument(d: DocumentSources) {
  const snap = statusSnapshot(d.sources, d.history.deviceRates())
  const now = Date.parse(snap.now)
  const host = d.host.get()
  const recentProblems: LogEntry[] = d.logs.problemLines(PROBLEMS_SHOWN)
  const recentErrors = recentProblems.filter(
    l => (l.level === 'error' || l.level === 'fatal') && now - Date.parse(l.time) < ERROR_WINDOW_MS
  ).length
  const ready = d.ready()
  const uplink = snap.uplink
  // The forwarder keeps its state transitions; without it, the current state is the history.
  const transitions = (uplink as { history?: ReadonlyArray<{ state: string; at: string; reason: string | null }> })
    .history
  const uplinkHistory =
    transitions !== undefined && transitions.length > 0
      ? [...transitions].reverse()
      : [{ state: uplink.state, at: uplink.since, reason: uplink.lastError }]
  const rates = d.history.current()
  const disk = diskOutlook(d.config, {
    backlog: snap.backlog,
    ingestPerS: rates.ingest,
    forwardPerS: rates.forward,
    diskFreeBytes: host.disk?.freeBytes ?? null,
    nowMs: now
  })
  const health = assess({
    mqttListening: snap.mqtt.listening,
    bufferWritable: ready.checks.bufferWritable !== false,
    recovery: snap.store.recovery,
    uplink,
    backlog: snap.backlog,
    budgetBytes: disk.budgetBytes,
    minFreeBytes: d.config.store.minFreeBytes,
    devices: snap.devices,
    recentDrops: d.history.dropsWithin(60_000),
    recentDroppers: d.history.droppersWithin(60_000),
    recentRefused: d.history.dropsWithin(60_000, 'refused'),
    recentErrors,
    host,
    hostProblems: d.hostVerdicts.problems(host),
    diskFull: { inS: disk.fullInS, whenFull: disk.whenFull },
    nowMs: now
  })
  return {
    ...snap,
    ready,
    health,
    rates: { ingestPerS: rates.ingest, forwardPerS: rates.forward, dropPerS: rates.drop },
    uplinkHistory,
    disk,
    figures: budgetFigures(snap.budget, snap.aggregation),
    host,
    process: d.hostVerdicts.process(),
    pushIntervalMs: d.config.status.pushIntervalMs,
    store: {
      ...snap.store,
      maxBytes: d.config.store.maxBytes,
      minFreeBytes: d.config.store.minFreeBytes,
      synchronous: d.config.store.synchronous
    },
    recentProblems,
    problemCount: d.logs.problemCount
  }
}

export type StatusDocument = ReturnType<typeof statusDocument>

/**
 * The page's live feed: the same document with each device cut to what the table shows, so a
 * fleet of a thousand devices costs the page ~150 KB a second rather than ~650 KB.
 */
export function pageDocument(doc: StatusDocument) {
  return { ...pageHead(doc), devices: doc.devices.map(pageRow) }
}

/** The page document but its device rows (they are cut one by one with pageRow). */
export function pageHead(doc: StatusDocument) {
  // The uplink's transitions travel once, as uplinkHistory.
  const { history: _history, ...uplink } = doc.uplink as typeof doc.uplink & { history?: unknown }
  return { ...doc, uplink }
}

/** One device as the page's table shows it. */
export function pageRow(d: StatusDocument['devices'][number]) {
  const dropped: Record<string, number> = {}
  for (const [k, v] of Object.entries(d.dropped)) if (typeof v === 'number' && v > 0) dropped[k] = v
  const q = (d as { quota?: unknown }).quota
  return {
    id: d.id,
    connected: d.connected,
    protocol: d.protocol,
    lastSeenS: d.lastSeenS,
    received: d.received,
    buffered: d.buffered,
    ratePerS: d.ratePerS,
    authFailures: d.authFailures,
    denials: d.denials,
    dropped,
    quotaUse: quotaShare(q),
    throttled: quotaUsage(q).throttled
  }
}
