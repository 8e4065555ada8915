/** How `holdfast fleet status|history` print: aligned tables for people, one JSON line per row for scripts. */
import { type GatewayRow, type Report, ROLLOUT_OUTCOMES, type Rollout } from './fleet-view.js'

const out = (line: string): void => {
  process.stdout.write(`${line}\n`)
}

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map(r => r[i]!.length)))
  for (const r of rows) out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '))
}

const layerName = (key: string, gatewayId: string): string =>
  key === gatewayId ? 'own' : key.startsWith('group:') ? key.slice('group:'.length) : key

/** `*:500 site=plant-7:3 own:100` */
function layers(list: ReadonlyArray<{ key: string; version: number | null }>, gatewayId: string): string {
  if (list.length === 0) return '-'
  return list.map(l => `${layerName(l.key, gatewayId)}:${l.version ?? '?'}`).join(' ')
}

/** What it converges to, then what it refused: `*:3 site=plant-7:1 (own:8 rejected)`. */
function desired(r: GatewayRow): string {
  const refused = r.refused.map(f => `${layerName(f.key, r.gatewayId)}:${f.version ?? 'delete'} ${f.outcome}`)
  const want = layers(r.desired, r.gatewayId)
  return refused.length === 0 ? want : `${want} (${refused.join(', ')})`
}

function outcome(e: Report | null): string {
  if (e === null) return '-'
  // A change without a version is the removal of a layer.
  const what = e.version === null || e.version === undefined ? 'delete' : `v${e.version}`
  const reason = typeof e.reason === 'string' ? ` (${e.reason})` : ''
  return `${e.type} ${e.key ?? ''} ${what}${reason}`.replace(/\s+/g, ' ')
}

function health(hb: Report | null): string {
  const h = hb?.health
  if (h === undefined || h === null) return '-'
  const codes = Array.isArray(h.problems)
    ? h.problems.map((p: Report | string) => (typeof p === 'string' ? p : p.code))
    : []
  return codes.length > 0 ? `${h.level}: ${codes.join(',')}` : String(h.level)
}

export function statusJson(r: GatewayRow): Record<string, unknown> {
  const hb = r.heartbeat
  const e = r.lastOutcome
  return {
    gatewayId: r.gatewayId,
    state: r.state,
    groups: r.groups,
    desired: r.desired,
    refused: r.refused,
    reported: r.reported,
    inSync: r.inSync,
    configVersion: hb?.config?.version ?? null,
    configState: hb?.config?.state ?? null,
    pending: hb?.config?.pending ?? null,
    overridden: r.overridden,
    lastEvent:
      e === null
        ? null
        : {
            type: e.type,
            key: e.key ?? null,
            version: e.version ?? null,
            reason: e.reason ?? null,
            message: e.message ?? null,
            at: e.at
          },
    health: hb?.health ?? null,
    uplink: hb?.uplink?.state ?? null,
    backlog: hb?.backlog?.readings ?? null,
    softwareVersion: hb?.softwareVersion ?? null,
    lastHeartbeat: hb?.at ?? null,
    heartbeatAgeS: r.heartbeatAgeS
  }
}

export function printStatus(rows: readonly GatewayRow[], json: boolean): void {
  if (json) {
    for (const r of rows) out(JSON.stringify(statusJson(r)))
    return
  }
  const t = [
    [
      'GATEWAY',
      'STATE',
      'DESIRED',
      'REPORTED',
      'SYNC',
      'LAST OUTCOME',
      'OVERRIDDEN',
      'UPLINK',
      'BACKLOG',
      'HEALTH',
      'HEARTBEAT'
    ]
  ]
  for (const r of rows) {
    const hb = r.heartbeat
    t.push([
      r.gatewayId,
      r.state,
      desired(r),
      layers(r.reported, r.gatewayId),
      r.inSync ? 'yes' : 'no',
      outcome(r.lastOutcome),
      r.overridden.length > 0 ? r.overridden.join(',') : '-',
      hb?.uplink?.state ?? '-',
      hb?.backlog?.readings != null ? String(hb.backlog.readings) : '-',
      health(hb),
      r.heartbeatAgeS === null ? '-' : `${r.heartbeatAgeS} s ago`
    ])
  }
  table(t)
  for (const r of rows) {
    const e = r.lastOutcome
    if (e !== null && (e.type === 'rejected' || e.type === 'rolled-back') && typeof e.message === 'string')
      out(`  ${r.gatewayId}: ${e.type} ${e.key ?? ''} v${e.version ?? '?'}: ${e.message}`)
  }
}

export function printRollout(r: Rollout, json: boolean): void {
  if (json) {
    out(JSON.stringify(r))
    return
  }
  const name = r.key === '*' ? 'fleet default (*)' : r.key
  const counts = ROLLOUT_OUTCOMES.map(o => `${r.counts[o]} ${o}`).join(', ')
  out(`rollout of ${name} v${r.version}: ${r.counts.confirmed} of ${r.total} confirmed (${counts})`)
  const t = [['GATEWAY', 'OUTCOME', 'REASON']]
  for (const g of r.gateways) t.push([g.gatewayId, g.outcome, g.message ?? g.reason ?? ''])
  if (r.gateways.length > 0) table(t)
}

export function printHistory(gatewayId: string, events: readonly Report[], json: boolean): void {
  if (json) {
    for (const e of events) out(JSON.stringify(e))
    return
  }
  if (events.length === 0) {
    out(`no outcomes reported by ${gatewayId} on this status topic`)
    return
  }
  const t = [['AT', 'SEQ', 'OUTCOME', 'MESSAGE']]
  for (const e of events) t.push([String(e.at), String(e.seq ?? '-'), outcome(e), String(e.message ?? '')])
  table(t)
}
