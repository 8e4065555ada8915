/** The devices table: filter, sort, at most 500 rows (browser code). */
import { $, dur, droppedTotal, el, num, rate, show, text } from './dom.js'
import type { Device, Doc } from './types.js'

/** Current sort column and direction (1 ascending, -1 descending). */
export const sort = { key: 'id', dir: 1 }

/** Share of the device's storage quota in use, or null when it has no cap (computed by the gateway). */
const quotaOf = (d: Device): number | null => (typeof d.quotaUse === 'number' ? d.quotaUse : null)
const throttledOf = (d: Device): number => d.throttled ?? 0

function sortValue(d: Device, key: string): number | string {
  switch (key) {
    case 'id':
      return d.id
    case 'connected':
      return d.connected ? 1 : 0
    case 'lastSeenS':
      return d.lastSeenS ?? Number.MAX_SAFE_INTEGER
    case 'droppedTotal':
      return droppedTotal(d.dropped)
    case 'quota':
      return quotaOf(d) ?? -1
    default:
      return (d as unknown as Record<string, number>)[key] ?? 0
  }
}

const MAX_ROWS = 500

export function renderDevices(doc: Doc | null): void {
  if (doc === null) return
  const q = $<HTMLInputElement>('device-filter').value.trim().toLowerCase()
  const which = $<HTMLSelectElement>('device-state').value
  const rows = doc.devices.filter(d => {
    if (q !== '' && !d.id.toLowerCase().includes(q)) return false
    if (which === 'online') return d.connected
    if (which === 'offline') return !d.connected
    if (which === 'problems') return droppedTotal(d.dropped) > 0 || d.authFailures > 0 || d.denials > 0
    return true
  })
  rows.sort((a, b) => {
    const x = sortValue(a, sort.key)
    const y = sortValue(b, sort.key)
    const c = typeof x === 'string' ? x.localeCompare(String(y), 'en', { numeric: true }) : x - (y as number)
    return c !== 0 ? c * sort.dir : a.id.localeCompare(b.id, 'en', { numeric: true })
  })
  const online = doc.devices.filter(d => d.connected).length
  text('devices-count', `${online} online of ${doc.devices.length}`)
  const body = document.querySelector('#devices tbody')!
  body.replaceChildren(
    ...rows.slice(0, MAX_ROWS).map(d => {
      const tr = document.createElement('tr')
      tr.dataset.id = d.id
      const drops = droppedTotal(d.dropped)
      if (drops > 0 || d.authFailures > 0) tr.className = 'bad'
      const quota = quotaOf(d)
      const throttled = throttledOf(d)
      const quotaText =
        (quota === null ? 'no cap' : `${Math.round(quota * 100)}%`) +
        (throttled > 0 ? ` · ${num(throttled)} throttled` : '')
      const state = el('td', '')
      state.append(el('span', d.connected ? 'online' : 'offline', `pill ${d.connected ? 'online' : 'offline'}`))
      if (d.protocol !== null) state.title = `MQTT ${d.protocol}`
      tr.append(
        el('td', d.id),
        state,
        el('td', d.lastSeenS === null ? 'never' : d.lastSeenS < 2 ? 'now' : dur(d.lastSeenS) + ' ago', 'num'),
        el('td', rate(d.ratePerS ?? 0), 'num'),
        el('td', num(d.received), 'num'),
        el('td', num(d.buffered), 'num'),
        el('td', num(drops), drops > 0 ? 'num alert' : 'num'),
        el('td', num(d.authFailures), d.authFailures > 0 ? 'num alert' : 'num'),
        el('td', quotaText, (quota !== null && quota >= 0.9) || throttled > 0 ? 'num alert' : 'num')
      )
      if (drops > 0)
        tr.title = Object.entries(d.dropped)
          .map(([r, n]) => `${r}: ${n}`)
          .join(', ')
      return tr
    })
  )
  const more = rows.length - MAX_ROWS
  text('devices-more', more > 0 ? `${more} more not shown: narrow the filter.` : '')
  show('devices-more', more > 0)
  for (const th of document.querySelectorAll<HTMLElement>('#devices th')) {
    if (th.dataset.key === sort.key) th.setAttribute('aria-sort', sort.dir === 1 ? 'ascending' : 'descending')
    else th.removeAttribute('aria-sort')
  }
}

/** Header clicks (or Enter) sort; the filter box and state select narrow the rows. */
export function wireDevices(current: () => Doc | null): void {
  const redraw = (): void => renderDevices(current())
  $('device-filter').addEventListener('input', redraw)
  $('device-state').addEventListener('change', redraw)
  for (const th of document.querySelectorAll<HTMLElement>('#devices th')) {
    const resort = (): void => {
      const key = th.dataset.key!
      sort.dir = sort.key === key ? -sort.dir : key === 'id' ? 1 : -1
      sort.key = key
      redraw()
    }
    th.addEventListener('click', resort)
    th.addEventListener('keydown', e => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault()
        resort()
      }
    })
  }
}
