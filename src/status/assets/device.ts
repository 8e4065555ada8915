/** One device's view, `#/devices/<id>`: everything the gateway knows about it (browser code). */
import { $, bytes, clock, el, num, rate, show, text, when } from './dom.js'
import type { DeviceDetail } from './types.js'

const REASON_WORDS: Record<string, string> = {
  login_failed: 'login refused (wrong or unknown secret)',
  acl_denied: 'publish or subscribe outside its own topics',
  rate_throttled: 'publishes held back by its rate quota',
  payload_too_large: 'payload over its size limit',
  quota_drop_oldest: 'oldest readings dropped for its storage quota',
  disk_drop_oldest: 'oldest readings dropped to stay within the disk budget',
  will_rate_limited: 'will over its rate quota, not stored',
  forward_queue_full: 'messages to it not queued: its session queue was full',
  session_evicted: 'persistent sessions ended: it kept too many',
  receive_maximum: 'disconnected: more publishes in flight than its Receive Maximum',
  subscribe_rate_limited: 'SUBSCRIBE/UNSUBSCRIBE held back by its subscription rate quota'
}
const words = (reason: string): string => REASON_WORDS[reason] ?? reason.replace(/_/g, ' ')

export function deviceIdFromHash(hash: string): string | null {
  const m = /^#\/devices\/(.+)$/.exec(hash)
  if (m === null) return null
  try {
    return decodeURIComponent(m[1]!)
  } catch {
    return null
  }
}

/** The device as last fetched, or why it could not be. */
export async function loadDevice(id: string): Promise<DeviceDetail | 'unknown' | 'unreachable' | 'login'> {
  try {
    const r = await fetch(`/api/device?id=${encodeURIComponent(id)}`, { cache: 'no-store' })
    if (r.status === 404) return 'unknown'
    if (r.status === 401) return 'login'
    if (!r.ok) return 'unreachable'
    return (await r.json()) as DeviceDetail
  } catch {
    return 'unreachable'
  }
}

function replace(id: string, items: HTMLElement[]): void {
  const e = $(id)
  const key = items.map(i => i.textContent).join('\n')
  if (e.dataset.key === key) return
  e.dataset.key = key
  e.replaceChildren(...items)
}

export function renderDevice(id: string, d: DeviceDetail | 'unknown'): void {
  text('device-id', id)
  if (d === 'unknown') {
    text('dev-state', 'unknown')
    $('dev-state').className = 'pill'
    text('device-missing', `No device “${id}” has connected or published since the gateway started.`)
    show('device-missing', true)
    show('device-body', false)
    return
  }
  show('device-missing', false)
  show('device-body', true)
  const now = Date.parse(d.now)
  text('dev-state', d.connected ? 'online' : 'offline')
  $('dev-state').className = `pill ${d.connected ? 'online' : 'offline'}`
  text('dev-last-seen', when(d.lastSeenAt, now))
  text('dev-rate', `${rate(d.ratePerS)} readings/s`)
  text('dev-received', num(d.received))
  text('dev-stored', num(d.stored))
  text('dev-forwarded', num(d.forwarded))
  text('dev-duplicates', num(d.duplicates))
  text('dev-buffered', `${num(d.buffered)} readings · ${bytes(d.bufferedBytes)}`)
  const limits = d.quota?.limits ?? {}
  const cap = [
    Number(limits.maxBufferedReadings ?? 0) > 0 ? `${num(Number(limits.maxBufferedReadings))} readings` : '',
    Number(limits.maxBufferedBytes ?? 0) > 0 ? bytes(Number(limits.maxBufferedBytes)) : ''
  ]
    .filter(x => x !== '')
    .join(' / ')
  text('dev-quota', d.quotaUse === null ? 'no cap' : `${Math.round(d.quotaUse * 100)}% of ${cap}`)
  text('dev-policy', String(limits.storagePolicy ?? '–'))
  text(
    'dev-rate-limit',
    Number(limits.msgsPerS ?? 0) > 0
      ? `${num(Number(limits.msgsPerS))} msg/s (burst ${num(Number(limits.msgsBurst ?? 0))})`
      : 'none'
  )
  text('dev-sessions-open', num(d.connections))
  text('dev-connects', num(d.connects))
  text('dev-last-connect', when(d.lastConnectAt, now))
  text('dev-last-disconnect', when(d.lastDisconnectAt, now))
  text('dev-auth-failures', num(d.authFailures))
  replace(
    'dev-sessions',
    d.sessions.length === 0
      ? [el('li', d.connected ? 'anonymous connection (development mode)' : 'no open session', 'muted')]
      : d.sessions.map(s =>
          el(
            'li',
            `client id ${s.clientId} · ${s.protocol}${s.tls ? ' over TLS' : ', no TLS'} · from ${s.address} · ${s.auth === 'certificate' ? 'client certificate' : s.auth} login · ${s.cleanSession ? 'clean' : 'persistent'} session · since ${when(s.since, now)}`
          )
        )
  )
  const problems = [
    ...d.drops.map(x => ({ ...x, kind: 'dropped' })),
    ...d.refusals.map(x => ({ ...x, kind: 'refused' }))
  ]
  replace(
    'dev-problems',
    problems.length === 0
      ? [el('li', 'None since start.', 'muted')]
      : problems.map(p => {
          const li = el('li', '')
          li.append(
            el('strong', `${num(p.count)}× `),
            // A held publish is slowed, not refused: nothing of it is lost.
            `${p.reason === 'rate_throttled' ? 'held' : p.kind}: ${words(p.reason)}`,
            el('span', p.lastAt === null ? '' : ` — last ${when(p.lastAt, now)}`, 'muted')
          )
          return li
        })
  )
  show('dev-payload-note', !d.payloadsShown && d.recent.length > 0)
  replace(
    'dev-recent',
    d.recent.length === 0
      ? [el('li', 'No reading since start.', 'muted')]
      : d.recent.map(r => {
          const li = el('li', '')
          li.append(
            el('code', r.topic),
            ` · ${bytes(r.bytes)} · received ${clock(r.receivedAt)}`,
            r.eventAt === null ? ' · no event time' : ` · event time ${clock(r.eventAt)}`
          )
          if (r.payload !== undefined) {
            const pre = el('pre', r.payload.text + (r.truncated === true ? ' …' : ''), 'payload')
            if (r.payload.encoding === 'hex') pre.title = 'not text: shown as hex'
            li.append(pre)
          }
          return li
        })
  )
}
