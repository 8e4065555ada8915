/** DOM and formatting helpers for the page (browser code). */
export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`#${id} missing`)
  return el as T
}
export const text = (id: string, v: string): void => {
  const el = $(id)
  if (el.textContent !== v) el.textContent = v
}
export const show = (id: string, visible: boolean): void => {
  const e = $(id)
  if (e.hidden === visible) e.hidden = !visible
}

export const nf = new Intl.NumberFormat('en')
export const num = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : nf.format(n))
export const rate = (n: number): string => (n >= 100 ? nf.format(Math.round(n)) : String(Math.round(n * 10) / 10))
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–'
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024
    i++
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${u[i]}`
}
export function dur(s: number | null | undefined): string {
  if (s === null || s === undefined) return '–'
  if (s < 90) return `${Math.round(s)} s`
  if (s < 5400) return `${Math.round(s / 60)} min`
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`
  return `${(s / 86400).toFixed(1)} days`
}
export const ago = (iso: string, nowMs: number): string => dur(Math.max(0, (nowMs - Date.parse(iso)) / 1000)) + ' ago'
export const clock = (iso: string): string => {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString('en-GB', { hour12: false })
}
export const droppedTotal = (d: Record<string, number>): number => Object.values(d).reduce((s, n) => s + n, 0)
export const STATE_WORDS: Record<string, string> = {
  connected: 'connected',
  degraded: 'degraded',
  down: 'down',
  paused: 'paused',
  resumed: 'resumed',
  unconfigured: 'not configured'
}

/** Each uplink state in a sentence: what it means for the readings. */
export const STATE_EXPLAIN: Record<string, string> = {
  connected: 'Kafka acknowledges what the gateway sends; readings leave the buffer as they are delivered.',
  degraded:
    'A request to Kafka failed or none succeeded lately: the gateway keeps retrying and keeps every reading until Kafka has it.',
  down: 'Kafka cannot be reached: readings are kept in the buffer and sent, oldest first, as soon as it answers.',
  paused: 'A technician paused forwarding: readings are kept in the buffer until someone resumes it.',
  unconfigured: 'No Kafka brokers are configured (kafka.brokers): readings are kept here and never forwarded.'
}

/** "14:02:11 (6 min ago)". */
export const when = (iso: string | null | undefined, nowMs: number): string =>
  iso == null ? 'never' : `${clock(iso)} (${ago(iso, nowMs)})`

export function link(href: string, content: string, cls?: string): HTMLAnchorElement {
  const a = document.createElement('a')
  a.href = href
  a.textContent = content
  if (cls !== undefined) a.className = cls
  return a
}

export const deviceHref = (id: string): string => `#/devices/${encodeURIComponent(id)}`

/** Set an element's text only when it changed, so a selection inside it survives an update. */
export function setText(e: Element, v: string): void {
  if (e.textContent !== v) e.textContent = v
}

export function el(tag: string, content: string, cls?: string): HTMLElement {
  const e = document.createElement(tag)
  e.textContent = content
  if (cls !== undefined) e.className = cls
  return e
}
