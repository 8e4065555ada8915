/**
 * One device, everything the gateway knows about it, for the page's device view
 * (`/#/devices/<id>`, data from GET /api/device?id=<id>): identity and protocol, sessions, last
 * seen, rates, what it has buffered, quota use, drops and refusals by reason with when they last
 * happened, and its last readings — payloads only for a logged-in technician.
 */
import type { RateHistory } from '../metrics/history.js'
import { quotaShare, quotaUsage } from '../metrics/quota-view.js'
import type { StatusSources } from './snapshot.js'

const iso = (ms: number): string | null => (ms > 0 ? new Date(ms).toISOString() : null)
const PROTOCOLS: Record<number, string> = { 3: 'MQTT 3.1', 4: 'MQTT 3.1.1', 5: 'MQTT 5.0' }

/** A payload as text when it is printable UTF-8, else as hex. */
function preview(p: Buffer): { text: string; encoding: 'utf8' | 'hex' } {
  const s = p.toString('utf8')
  return !s.includes('\uFFFD') && !/[\u0000-\u0008\u000e-\u001f]/.test(s)
    ? { text: s, encoding: 'utf8' }
    : { text: p.toString('hex'), encoding: 'hex' }
}

export function deviceDetail(id: string, s: StatusSources, history: RateHistory, withPayloads: boolean) {
  const d = s.counters.devices.get(id)
  if (d === undefined) return null
  const now = Date.now()
  const u = s.buffer.usage.usageOf(id)
  const quota = s.quotaOf?.(id) ?? null
  const drops = Object.entries(d.dropped)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([reason, n]) => ({ reason, count: n as number, lastAt: iso(d.droppedLastMs[reason as never] ?? 0) }))
    .sort((a, b) => b.count - a.count)
  const usage = quotaUsage(quota)
  const refusals = [
    { reason: 'login_failed', count: d.authFailures, lastAt: iso(d.lastAuthFailureMs) },
    { reason: 'acl_denied', count: d.denials, lastAt: iso(d.lastDenialMs) },
    { reason: 'rate_throttled', count: usage.throttled, lastAt: null },
    ...Object.entries(d.refused).map(([reason, n]) => ({
      reason,
      count: n as number,
      lastAt: iso(d.refusedLastMs[reason as never] ?? 0)
    }))
  ].filter(r => r.count > 0)
  return {
    id,
    now: new Date(now).toISOString(),
    connected: d.connections > 0,
    connections: d.connections,
    sessions: [...d.sessions].map(x => ({
      clientId: x.clientId,
      protocol: x.protocolLevel === null ? 'MQTT' : (PROTOCOLS[x.protocolLevel] ?? `MQTT level ${x.protocolLevel}`),
      address: x.address,
      tls: x.tls,
      auth: x.auth,
      cleanSession: x.cleanSession,
      since: new Date(x.sinceMs).toISOString()
    })),
    connects: d.connects,
    lastConnectAt: iso(d.lastConnectMs),
    lastDisconnectAt: iso(d.lastDisconnectMs),
    lastSeenAt: iso(d.lastSeenMs),
    ratePerS: history.deviceRate(id, d.received),
    received: d.received,
    stored: d.stored,
    forwarded: d.forwarded,
    duplicates: d.duplicates,
    buffered: u.readings,
    bufferedBytes: u.bytes,
    quota,
    quotaUse: quotaShare(quota),
    authFailures: d.authFailures,
    drops,
    refusals,
    payloadsShown: withPayloads,
    recent: d
      .recentReadings()
      .reverse()
      .map(r => ({
        topic: r.topic,
        bytes: r.bytes,
        eventAt: r.eventMs === null ? null : iso(r.eventMs),
        receivedAt: new Date(r.recvMs).toISOString(),
        ...(withPayloads ? { payload: preview(r.payload), truncated: r.bytes > r.payload.length } : {})
      }))
  }
}

export type DeviceDetail = NonNullable<ReturnType<typeof deviceDetail>>
