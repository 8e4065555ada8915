/**
 * The document behind /api/status, the page's live feed and the diagnostics bundle: the
 * status snapshot (stable field names, see snapshot.ts) plus what the page needs to be
 * useful at a glance — host health, rates, a verdict, uplink history, recent problems.
 */
import type { Config } from '../config/schema.js'
import type { LogEntry, LogRing } from '../log-ring.js'
import type { HostMonitor } from '../metrics/host.js'
import type { RateHistory } from '../metrics/history.js'
import { assess } from './health.js'
import { statusSnapshot, type StatusSources } from './snapshot.js'

export interface DocumentSources {
  sources: StatusSources
  config: Readonly<Config>
  host: HostMonitor
  history: RateHistory
  logs: LogRing
  ready: () => { ok: boolean, checks: Record<string, boolean> }
}

const PROBLEMS_SHOWN = 30
const ERROR_WINDOW_MS = 15 * 60_000

export function statusDocument (d: DocumentSources) {
  const snap = statusSnapshot(d.sources)
  const now = Date.parse(snap.now)
  const host = d.host.get()
  const recentProblems: LogEntry[] = d.logs.problemLines(PROBLEMS_SHOWN)
  const recentErrors = recentProblems.filter((l) => (l.level === 'error' || l.level === 'fatal') && now - Date.parse(l.time) < ERROR_WINDOW_MS).length
  const ready = d.ready()
  const uplink = snap.uplink
  // The forwarder keeps its state transitions; without it, the current state is the history.
  const transitions = (uplink as { history?: ReadonlyArray<{ state: string, at: string, reason: string | null }> }).history
  const uplinkHistory = transitions !== undefined && transitions.length > 0
    ? [...transitions].reverse()
    : [{ state: uplink.state, at: uplink.since, reason: uplink.lastError }]
  const health = assess({
    mqttListening: snap.mqtt.listening,
    bufferWritable: ready.checks.bufferWritable !== false,
    uplink,
    backlog: snap.backlog,
    storeMaxBytes: d.config.store.maxBytes,
    minFreeBytes: d.config.store.minFreeBytes,
    devices: snap.devices,
    recentDrops: d.history.dropsWithin(60_000),
    recentErrors,
    host,
    nowMs: now
  })
  return {
    ...snap,
    devices: snap.devices.map((dev) => ({ ...dev, ratePerS: d.history.deviceRate(dev.id, dev.received) })),
    ready,
    health,
    rates: (({ ingest, forward, drop }) => ({ ingestPerS: ingest, forwardPerS: forward, dropPerS: drop }))(d.history.current()),
    uplinkHistory,
    host,
    store: { maxBytes: d.config.store.maxBytes, minFreeBytes: d.config.store.minFreeBytes, synchronous: d.config.store.synchronous },
    recentProblems,
    problemCount: d.logs.problemCount
  }
}

export type StatusDocument = ReturnType<typeof statusDocument>
