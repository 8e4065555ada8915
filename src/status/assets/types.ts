/** The shapes the page receives (see src/status/document.ts pageDocument). Types only: nothing is loaded for this file. */
export interface Device {
  id: string
  connected: boolean
  /** MQTT version of its latest connection ('3.1.1', '5'); null before any. */
  protocol: string | null
  lastSeenS: number | null
  received: number
  buffered: number
  ratePerS?: number
  authFailures: number
  denials: number
  dropped: Record<string, number>
  quotaUse?: number | null
  throttled?: number
}
export interface Problem {
  level: 'warn' | 'crit'
  text: string
}
export interface LogLine {
  level: string
  time: string
  msg: string
  code?: string
  err?: unknown
}
export interface Point {
  t: number
  ingest: number
  forward: number
  drop: number
  backlog: number
}
export interface Doc {
  gatewayId: string
  version: string
  uptimeS: number
  now: string
  uplink: { state: string; since: string; lastError: string | null; drainRate: number; etaS: number | null }
  backlog: { readings: number; bytes: number; oldestAgeS: number }
  counters: {
    received: number
    stored: number
    forwarded: number
    duplicates: number
    authFailures: number
    dropped: Record<string, number>
    refused?: Record<string, number>
  }
  mqtt: { listening: boolean; connections: number }
  config: { source: string; version: number | null }
  devices: Device[]
  ready: { ok: boolean; checks: Record<string, boolean> }
  health: { level: 'ok' | 'warn' | 'crit'; problems: Problem[] }
  rates: { ingestPerS: number; forwardPerS: number; dropPerS: number }
  uplinkHistory: Array<{ state: string; at: string; reason: string | null }>
  host: {
    sampledAt: string | null
    hostname: string | null
    os: string | null
    cores: number | null
    cpuLoadPct: number | null
    loadAvg: number[] | null
    memTotalBytes: number | null
    memAvailableBytes: number | null
    memUsedPct: number | null
    disk: { path: string; mount: string | null; sizeBytes: number; freeBytes: number; usedPct: number } | null
    temperatureC: number | null
    uptimeS: number | null
    network: Array<{
      iface: string
      ip4: string
      ip6: string
      mac: string
      state: string
      speedMbps: number | null
      internal: boolean
    }>
  }
  store: { maxBytes: number; minFreeBytes: number; synchronous: string }
  recentProblems: LogLine[]
}
export interface SessionInfo {
  public: boolean
  loginAvailable: boolean
  authenticated: boolean
  csrf: string | null
  expiresAt: string | null
}
