/**
 * The devices list: filter, sort, at most 500 rows (browser code). Rows are kept per device id
 * and only changed cells are rewritten, so a technician can select and copy an id while the
 * figures update. On a phone the stylesheet stacks each row into a card, id first.
 */
import { $, deviceHref, droppedTotal, dur, el, link, num, rate, setText, show, text } from './dom.js'
import type { Device, Doc } from './types.js'

/** Current sort column and direction (1 ascending, -1 descending). */
export const sort = { key: 'id', dir: 1 }

/** Column labels, shown before each value when rows are stacked on a phone. */
const LABELS = [
  'Device',
  'State',
  'Last seen',
  'Rate /s',
  'Received',
  'Buffered',
  'Dropped',
  'Login fails',
  'Quota use'
]

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
const rows = new Map<string, HTMLTableRowElement>()

function newRow(id: string): HTMLTableRowElement {
  const tr = document.createElement('tr')
  tr.dataset.id = id
  for (let i = 0; i < LABELS.length; i++) {
    const td = document.createElement('td')
    td.dataset.label = LABELS[i]!
    if (i >= 2) td.className = 'num'
    tr.append(td)
  }
  // The id is a link to the device view; it stays selectable (no link dragging).
  const a = link(deviceHref(id), id, 'dev-link')
  a.draggable = false
  tr.cells[0]!.className = 'id'
  tr.cells[0]!.append(a)
  tr.cells[1]!.append(el('span', '', 'pill'))
  return tr
}

function cell(tr: HTMLTableRowElement, i: number, value: string, alert = false): void {
  const td = tr.cells[i]!
  setText(td, value)
  const cls = alert ? 'num alert' : 'num'
  if (td.className !== cls) td.className = cls
}

function fill(tr: HTMLTableRowElement, d: Device): void {
  const drops = droppedTotal(d.dropped)
  const bad = drops > 0 || d.authFailures > 0 ? 'bad' : ''
  if (tr.className !== bad) tr.className = bad
  const pill = tr.cells[1]!.firstElementChild as HTMLElement
  const state = d.connected ? 'online' : 'offline'
  setText(pill, state)
  if (pill.className !== `pill ${state}`) pill.className = `pill ${state}`
  const proto = d.protocol !== null && d.protocol !== undefined ? `MQTT ${d.protocol}` : ''
  if (tr.cells[1]!.title !== proto) tr.cells[1]!.title = proto
  const quota = quotaOf(d)
  const throttled = throttledOf(d)
  cell(tr, 2, d.lastSeenS === null ? 'never' : d.lastSeenS < 2 ? 'now' : `${dur(d.lastSeenS)} ago`)
  cell(tr, 3, rate(d.ratePerS ?? 0))
  cell(tr, 4, num(d.received))
  cell(tr, 5, num(d.buffered))
  cell(tr, 6, num(drops), drops > 0)
  cell(tr, 7, num(d.authFailures), d.authFailures > 0)
  cell(
    tr,
    8,
    (quota === null ? 'no cap' : `${Math.round(quota * 100)}%`) +
      (throttled > 0 ? ` · ${num(throttled)} throttled` : ''),
    (quota !== null && quota >= 0.9) || throttled > 0
  )
  const title =
    drops > 0
      ? `dropped: ${Object.entries(d.dropped)
          .map(([r, n]) => `${r.replace(/_/g, ' ')} ${n}`)
          .join(', ')}`
      : ''
  if (tr.title !== title) tr.title = title
}

const FILTER_WORDS: Record<string, string> = {
  online: 'online',
  offline: 'offline',
  problems: 'with drops or login failures'
}

export function renderDevices(doc: Doc | null): void {
  if (doc === null) return
  const q = $<HTMLInputElement>('device-filter').value.trim().toLowerCase()
  const which = $<HTMLSelectElement>('device-state').value
  const shown = doc.devices.filter(d => {
    if (q !== '' && !d.id.toLowerCase().includes(q)) return false
    if (which === 'online') return d.connected
    if (which === 'offline') return !d.connected
    if (which === 'problems') return droppedTotal(d.dropped) > 0 || d.authFailures > 0 || d.denials > 0
    return true
  })
  shown.sort((a, b) => {
    const x = sortValue(a, sort.key)
    const y = sortValue(b, sort.key)
    const c = typeof x === 'string' ? x.localeCompare(String(y), 'en', { numeric: true }) : x - (y as number)
    return c !== 0 ? c * sort.dir : a.id.localeCompare(b.id, 'en', { numeric: true })
  })
  const online = doc.devices.filter(d => d.connected).length
  text('devices-count', `${online} online of ${doc.devices.length}`)
  const body = document.querySelector('#devices tbody')!
  const visible = shown.slice(0, MAX_ROWS)
  const keep = new Set(visible.map(d => d.id))
  for (const [id, tr] of rows)
    if (!keep.has(id)) {
      tr.remove()
      rows.delete(id)
    }
  // Rows are moved only when the order changed: a row left in place keeps its text selection.
  let at: Element | null = body.firstElementChild
  for (const d of visible) {
    let tr = rows.get(d.id)
    if (tr === undefined) rows.set(d.id, (tr = newRow(d.id)))
    fill(tr, d)
    if (at === tr) at = tr.nextElementSibling
    else body.insertBefore(tr, at)
  }
  const empty =
    doc.devices.length === 0
      ? 'No device has connected since the gateway started.'
      : shown.length === 0
        ? `No device ${q !== '' ? `matches “${q}”` : ''}${q !== '' && which !== 'all' ? ' and is ' : which !== 'all' ? 'is ' : ''}${FILTER_WORDS[which] ?? ''} — ${doc.devices.length} device${doc.devices.length === 1 ? '' : 's'} in all.`
        : ''
  text('devices-empty', empty)
  show('devices-empty', empty !== '')
  $('devices').classList.toggle('is-empty', shown.length === 0)
  const more = shown.length - MAX_ROWS
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
  // On a phone the column headers are hidden: a select sorts instead (biggest first, ids A-Z).
  $('device-sort').addEventListener('change', () => {
    sort.key = $<HTMLSelectElement>('device-sort').value
    sort.dir = sort.key === 'id' ? 1 : -1
    redraw()
  })
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
  // A click anywhere on a row opens the device, unless the technician was selecting text.
  $('devices').addEventListener('click', e => {
    const tr = (e.target as Element).closest('tr[data-id]') as HTMLElement | null
    if (tr === null || (e.target as Element).closest('a') !== null) return
    if (!(window.getSelection()?.isCollapsed ?? true)) return
    location.hash = deviceHref(tr.dataset.id!)
  })
}

/** The verdict's "and N more" offline devices: show the list filtered to offline ones. */
export function showOffline(): void {
  $<HTMLInputElement>('device-filter').value = ''
  $<HTMLSelectElement>('device-state').value = 'offline'
  $('device-state').dispatchEvent(new Event('change'))
  $('card-devices').scrollIntoView()
}

/** The verdict's "and N more" devices dropping readings: the devices with drops or login failures, most dropped first. */
export function showDropped(): void {
  $<HTMLInputElement>('device-filter').value = ''
  $<HTMLSelectElement>('device-state').value = 'problems'
  sort.key = 'droppedTotal'
  sort.dir = -1
  $<HTMLSelectElement>('device-sort').value = 'droppedTotal'
  $('device-state').dispatchEvent(new Event('change'))
  $('card-devices').scrollIntoView()
}
