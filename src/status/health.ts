/**
 * The verdict at the top of the page: what is wrong, worst first, in words a technician acts on.
 * Pure: takes figures, returns problems. Thresholds are deliberately plain.
 */
import type { HostFacts } from '../metrics/host.js'
import { naturalCompare, thousands } from '../text.js'

export type Level = 'ok' | 'warn' | 'crit'
export interface Problem {
  level: Exclude<Level, 'ok'>
  area: 'mqtt' | 'buffer' | 'uplink' | 'backlog' | 'devices' | 'host' | 'drops' | 'log'
  /** Short stable code for machines (the heartbeat, fleet status): `uplink_down`, `disk_low`, … */
  code: string
  text: string
  /** Devices the problem names, in the order named (the page links each to its device view). */
  devices?: string[]
}
export interface Health {
  level: Level
  problems: Problem[]
}

export interface HealthInput {
  mqttListening: boolean
  bufferWritable: boolean
  /** Set when start-up found the buffer files damaged and salvaged them. */
  recovery?: { at: string; reason: string; salvagedReadings: number; quarantinedTo: string } | null
  uplink: {
    state: string
    link?: string
    since: string
    outageSince?: string | null
    lastError: string | null
    cause?: string | null
    etaS: number | null
    drainRate: number
  }
  /** When the buffer reaches its disk budget at the current net inflow, and what happens then. */
  diskFull?: { inS: number | null; whenFull: string } | null
  backlog: { readings: number; bytes: number; oldestAgeS: number }
  /** The disk budget in force (store.maxBytes, or less to keep store.minFreeBytes free). */
  budgetBytes: number
  minFreeBytes: number
  devices: ReadonlyArray<{ id: string; connected: boolean; lastSeenS: number | null }>
  /** Drops over the last minute, by reason. */
  recentDrops: Record<string, number>
  /**
   * Drops over the last minute by device, most first (RateHistory.droppersWithin). Given, the verdict
   * names them, and says how many came from clients that are not devices (apps, anonymous clients).
   */
  recentDroppers?: ReadonlyArray<{ device: string; count: number }>
  /** Connections/logins refused over the last minute, by reason. */
  recentRefused: Record<string, number>
  recentErrors: number
  host: Readonly<HostFacts>
  /** CPU and memory verdicts, decided with hysteresis by HostVerdicts. */
  hostProblems?: Problem[]
  nowMs: number
}

const SILENT_AFTER_S = 60

export function duration(s: number): string {
  if (s < 90) return `${Math.round(s)} s`
  if (s < 90 * 60) return `${Math.round(s / 60)} min`
  if (s < 48 * 3600) return `${(s / 3600).toFixed(1)} h`
  return `${(s / 86400).toFixed(1)} days`
}

function list(ids: string[], max = 3): string {
  return ids.length <= max ? ids.join(', ') : `${ids.slice(0, max).join(', ')} and ${ids.length - max} more`
}

const DROP_WORDS: Record<string, string> = {
  payload_too_large: 'payload over its size limit',
  quota_drop_oldest: "oldest dropped for a device's storage quota",
  disk_drop_oldest: 'oldest dropped to stay within the disk budget',
  quota_storage: 'refused, storage quota full',
  disk_budget: 'refused, disk budget full',
  acl_denied: 'outside its own topics',
  invalid_topic: 'topic invalid',
  retained_limit: 'too many retained topics',
  will_rate_limited: 'will over its rate quota',
  store_error: 'buffer write failed',
  bad_credentials: 'wrong secret',
  unknown_identity: 'unknown device or app'
}

export function assess(h: HealthInput): Health {
  const p: Problem[] = []
  if (!h.mqttListening)
    p.push({ level: 'crit', code: 'mqtt_down', area: 'mqtt', text: 'MQTT listener is down: devices cannot connect' })
  if (h.recovery != null)
    p.push({
      level: 'warn',
      code: 'buffer_damaged',
      area: 'buffer',
      text: `Buffer files were damaged (${h.recovery.reason}); ${thousands(h.recovery.salvagedReadings)} readings kept, damaged files in ${h.recovery.quarantinedTo}`
    })
  if (!h.bufferWritable)
    p.push({
      level: 'crit',
      code: 'buffer_failing',
      area: 'buffer',
      text: 'Buffer commits are failing: readings are being refused (disk full or I/O error?)'
    })

  const u = h.uplink
  const link = u.link ?? (u.state === 'paused' ? 'connected' : u.state)
  // The outage runs from the last delivery; pausing neither hides nor restarts it.
  const outageS = Math.max(0, (h.nowMs - Date.parse(u.outageSince ?? u.since)) / 1000)
  const cause = u.cause ?? u.lastError
  const why = cause != null ? `: ${cause}` : ''
  const alsoPaused = u.state === 'paused' ? ' (forwarding is also paused)' : ''
  if (link === 'down')
    p.push({
      level: 'crit',
      code: 'uplink_down',
      area: 'uplink',
      text: `Uplink down for ${duration(outageS)}${alsoPaused}${why}`
    })
  else if (link === 'degraded')
    p.push({
      level: 'warn',
      code: 'uplink_degraded',
      area: 'uplink',
      text: `Uplink unreliable for ${duration(outageS)}${alsoPaused}${why}`
    })
  if (u.state === 'paused' && link === 'connected') {
    const forS = Math.max(0, (h.nowMs - Date.parse(u.since)) / 1000)
    p.push({
      level: 'warn',
      code: 'uplink_paused',
      area: 'uplink',
      text: `Forwarding paused for ${duration(forS)} — resume it when done`
    })
  } else if (u.state === 'unconfigured')
    p.push({
      level: 'warn',
      code: 'uplink_unconfigured',
      area: 'uplink',
      text: 'No uplink configured: readings are kept here, not forwarded'
    })
  if (h.diskFull != null && h.diskFull.inS !== null && link !== 'connected' && h.diskFull.inS < 7 * 86400)
    p.push({
      level: h.diskFull.inS < 2 * 3600 ? 'crit' : 'warn',
      code: 'disk_budget_full_soon',
      area: 'backlog',
      text: `Disk budget full in ${duration(h.diskFull.inS)} at the current inflow: then ${h.diskFull.whenFull}`
    })

  const share = h.budgetBytes > 0 ? h.backlog.bytes / h.budgetBytes : 0
  if (share >= 0.95)
    p.push({
      level: 'crit',
      code: 'backlog_full',
      area: 'backlog',
      text: `Buffer ${Math.round(share * 100)}% of its disk budget: ${h.diskFull?.whenFull ?? 'new readings are refused'}`
    })
  else if (share >= 0.8)
    p.push({
      level: 'warn',
      code: 'backlog_high',
      area: 'backlog',
      text: `Buffer ${Math.round(share * 100)}% of its disk budget`
    })
  if (h.backlog.readings > 0 && h.backlog.oldestAgeS > 300 && u.state !== 'connected') {
    p.push({
      level: 'warn',
      code: 'backlog_old',
      area: 'backlog',
      text: `${thousands(h.backlog.readings)} readings waiting, oldest ${duration(h.backlog.oldestAgeS)} old`
    })
  }

  // Longest silent first: the device to walk to first heads the list.
  const silent = h.devices
    .filter(d => !d.connected && d.lastSeenS !== null && d.lastSeenS > SILENT_AFTER_S)
    .sort((a, b) => b.lastSeenS! - a.lastSeenS! || naturalCompare(a.id, b.id))
    .map(d => d.id)
  if (silent.length > 0)
    p.push({
      level: 'warn',
      code: 'devices_offline',
      area: 'devices',
      text: `${silent.length} device${silent.length > 1 ? 's' : ''} offline for over a minute: ${list(silent)}`,
      devices: silent
    })

  // Reasons in a technician's words (the code names are in the API and the log).
  const said = (r: string, v: number): string => `${DROP_WORDS[r] ?? r.replace(/_/g, ' ')}: ${thousands(v)}`
  const drops = Object.entries(h.recentDrops)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
  if (drops.length > 0) {
    const n = drops.reduce((s, [, v]) => s + v, 0)
    const droppers = (h.recentDroppers ?? []).filter(d => d.count > 0)
    const byDevices = droppers.reduce((s, d) => s + d.count, 0)
    // Drops of apps' and anonymous clients' publishes are counted for the gateway only.
    const others =
      h.recentDroppers === undefined || byDevices >= n
        ? ''
        : byDevices === 0
          ? '; from apps or anonymous clients, not devices'
          : `; ${thousands(n - byDevices)} of them from apps or anonymous clients`
    const names = droppers.map(d => d.device)
    p.push({
      level: 'warn',
      code: 'readings_dropped',
      area: 'drops',
      text: `${thousands(n)} readings dropped in the last minute (${drops.map(([r, v]) => said(r, v)).join(', ')}${others})${names.length > 0 ? `, by device: ${list(names)}` : ''}`,
      ...(names.length > 0 ? { devices: names } : {})
    })
  }

  // Held SUBSCRIBE/UNSUBSCRIBE packets are paced, not refused: the device view shows them.
  const refused = Object.entries(h.recentRefused)
    .filter(([r, n]) => n > 0 && r !== 'subscribe_rate_limited')
    .sort((a, b) => b[1] - a[1])
  if (refused.length > 0) {
    const n = refused.reduce((s, [, v]) => s + v, 0)
    p.push({
      level: 'warn',
      code: 'logins_refused',
      area: 'devices',
      text: `${thousands(n)} ${n > 1 ? 'connections or logins' : 'connection or login'} refused in the last minute (${refused.map(([r, v]) => said(r, v)).join(', ')})`
    })
  }

  const host = h.host
  if (host.disk !== null) {
    if (host.disk.freeBytes < h.minFreeBytes)
      p.push({
        level: 'crit',
        code: 'disk_low',
        area: 'host',
        text: `Data volume almost full: ${fmtBytes(host.disk.freeBytes)} free`
      })
    else if (host.disk.usedPct >= 90)
      p.push({
        level: 'warn',
        code: 'disk_high',
        area: 'host',
        text: `Data volume ${host.disk.usedPct}% full (${fmtBytes(host.disk.freeBytes)} free)`
      })
  }
  // CPU and memory: see host-verdict.ts (whose load it is, with hysteresis).
  if (h.hostProblems !== undefined) p.push(...h.hostProblems)
  if (host.temperatureC !== null && host.temperatureC >= 80)
    p.push({
      level: host.temperatureC >= 90 ? 'crit' : 'warn',
      code: 'board_hot',
      area: 'host',
      text: `Board at ${host.temperatureC} °C`
    })
  if (h.recentErrors > 0)
    p.push({
      level: 'warn',
      code: 'errors_logged',
      area: 'log',
      text: `${h.recentErrors} error${h.recentErrors > 1 ? 's' : ''} logged in the last 15 minutes (see Recent warnings and errors)`
    })

  p.sort((a, b) => (a.level === b.level ? 0 : a.level === 'crit' ? -1 : 1))
  return { level: p.some(x => x.level === 'crit') ? 'crit' : p.length > 0 ? 'warn' : 'ok', problems: p }
}

export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`
}
