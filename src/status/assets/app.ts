/**
 * The technicians' page script. Runs in the browser: compiled by tsc like the rest and served
 * from dist as /assets/app.js. No framework, no outside requests: session from /api/session,
 * live figures from /api/events (server-sent events), actions by POST with the CSRF token.
 */

interface Device {
  id: string, connected: boolean, lastSeenS: number | null, received: number, buffered: number, ratePerS?: number,
  authFailures: number, denials: number, dropped: Record<string, number>, quotaUse?: number | null, throttled?: number
}
interface Problem { level: 'warn' | 'crit', text: string }
interface LogLine { level: string, time: string, msg: string, code?: string, err?: unknown }
interface Point { t: number, ingest: number, forward: number, drop: number, backlog: number }
interface Doc {
  gatewayId: string, version: string, uptimeS: number, now: string
  uplink: { state: string, since: string, lastError: string | null, drainRate: number, etaS: number | null }
  backlog: { readings: number, bytes: number, oldestAgeS: number }
  counters: { received: number, stored: number, forwarded: number, duplicates: number, authFailures: number, dropped: Record<string, number>, refused?: Record<string, number> }
  mqtt: { listening: boolean, connections: number }
  config: { source: string, version: number | null }
  devices: Device[]
  ready: { ok: boolean, checks: Record<string, boolean> }
  health: { level: 'ok' | 'warn' | 'crit', problems: Problem[] }
  rates: { ingestPerS: number, forwardPerS: number, dropPerS: number }
  uplinkHistory: Array<{ state: string, at: string, reason: string | null }>
  host: {
    sampledAt: string | null, hostname: string | null, os: string | null, cores: number | null, cpuLoadPct: number | null, loadAvg: number[] | null
    memTotalBytes: number | null, memAvailableBytes: number | null, memUsedPct: number | null
    disk: { path: string, mount: string | null, sizeBytes: number, freeBytes: number, usedPct: number } | null
    temperatureC: number | null, uptimeS: number | null
    network: Array<{ iface: string, ip4: string, ip6: string, mac: string, state: string, speedMbps: number | null, internal: boolean }>
  }
  store: { maxBytes: number, minFreeBytes: number, synchronous: string }
  recentProblems: LogLine[]
}
interface SessionInfo { public: boolean, loginAvailable: boolean, authenticated: boolean, csrf: string | null, expiresAt: string | null }

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`#${id} missing`)
  return el as T
}
const text = (id: string, v: string): void => { const el = $(id); if (el.textContent !== v) el.textContent = v }
const show = (id: string, visible: boolean): void => { $(id).hidden = !visible }

const nf = new Intl.NumberFormat('en')
const num = (n: number | null | undefined): string => n === null || n === undefined ? '–' : nf.format(n)
const rate = (n: number): string => n >= 100 ? nf.format(Math.round(n)) : String(Math.round(n * 10) / 10)
function bytes (n: number | null | undefined): string {
  if (n === null || n === undefined) return '–'
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++ }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${u[i]}`
}
function dur (s: number | null | undefined): string {
  if (s === null || s === undefined) return '–'
  if (s < 90) return `${Math.round(s)} s`
  if (s < 5400) return `${Math.round(s / 60)} min`
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`
  return `${(s / 86400).toFixed(1)} days`
}
const ago = (iso: string, nowMs: number): string => dur(Math.max(0, (nowMs - Date.parse(iso)) / 1000)) + ' ago'
const clock = (iso: string): string => {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString('en-GB', { hour12: false })
}
const droppedTotal = (d: Record<string, number>): number => Object.values(d).reduce((s, n) => s + n, 0)
const STATE_WORDS: Record<string, string> = { connected: 'connected', degraded: 'degraded', down: 'down', paused: 'paused', unconfigured: 'not configured' }

let session: SessionInfo = { public: false, loginAvailable: false, authenticated: false, csrf: null, expiresAt: null }
let doc: Doc | null = null
let points: Point[] = []
let stream: EventSource | null = null
let lastEventMs = 0
let ticks = 0
const sort = { key: 'id', dir: 1 }

// ---------- session and login ----------

async function loadSession (): Promise<void> {
  const r = await fetch('/api/session', { cache: 'no-store' })
  session = await r.json() as SessionInfo
  applySession()
}

function applySession (): void {
  const canView = session.public || session.authenticated
  show('login', !canView)
  show('dash', canView)
  show('live', canView)
  show('btn-login-open', canView && !session.authenticated && session.loginAvailable)
  show('btn-logout', session.authenticated)
  text('who', session.authenticated ? 'technician' : (session.public ? 'read-only view' : ''))
  show('actions', session.authenticated)
  show('actions-locked', !session.authenticated)
  text('actions-locked', session.loginAvailable
    ? 'Log in as technician to test, drain or pause the uplink.'
    : 'No technician password is configured (status.passwordHash): uplink actions are unavailable.')
  show('diag-form', session.authenticated)
  $<HTMLInputElement>('diag-csrf').value = session.csrf ?? ''
  if (!session.loginAvailable) {
    text('login-note', 'No technician password is configured on this gateway (status.passwordHash). Set one with `holdfast hash-password`, or open the read-only view with --status-public.')
    $<HTMLButtonElement>('btn-login').disabled = true
  }
  if (canView) startStream()
  else stopStream()
}

async function login (ev: SubmitEvent): Promise<void> {
  ev.preventDefault()
  const input = $<HTMLInputElement>('password')
  const btn = $<HTMLButtonElement>('btn-login')
  btn.disabled = true
  show('login-error', false)
  try {
    const r = await fetch('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: input.value }) })
    const body = await r.json() as { error?: string, code?: string }
    if (r.ok) {
      input.value = ''
      await loadSession()
      return
    }
    text('login-error', r.status === 401 ? 'Wrong password.' : (body.error ?? `Login failed (${r.status}).`))
    show('login-error', true)
    input.select()
  } catch {
    text('login-error', 'The gateway did not answer.')
    show('login-error', true)
  } finally {
    btn.disabled = !session.loginAvailable
  }
}

async function logout (): Promise<void> {
  await post('/api/logout')
  await loadSession()
}

async function post (path: string): Promise<{ status: number, body: Record<string, unknown> }> {
  const r = await fetch(path, { method: 'POST', headers: { 'x-csrf-token': session.csrf ?? '', 'content-type': 'application/json' }, body: '{}' })
  let body: Record<string, unknown> = {}
  try { body = await r.json() as Record<string, unknown> } catch {}
  return { status: r.status, body }
}

// ---------- actions ----------

async function act (btn: HTMLButtonElement): Promise<void> {
  const name = btn.dataset.action!
  const label = btn.textContent ?? name
  btn.disabled = true
  const out = $('action-result')
  out.className = 'result small'
  out.textContent = `${label}…`
  out.hidden = false
  try {
    const { status, body } = await post(`/api/actions/${name}`)
    if (status === 401) { await loadSession(); return }
    let ok = status === 200
    let msg: string
    if (name === 'test-uplink' && status === 200) {
      ok = body.ok === true
      msg = ok ? `Uplink answered in ${String(body.ms)} ms.` : `Uplink test failed: ${String(body.error ?? 'unknown error')}`
    } else if (ok) {
      msg = { drain: 'Draining the backlog now.', pause: 'Forwarding paused: readings are kept until you resume.', resume: 'Forwarding resumed.' }[name] ?? 'Done.'
    } else {
      msg = `${label} refused: ${String(body.error ?? status)}`
    }
    out.className = `result small ${ok ? 'ok' : 'fail'}`
    out.textContent = `${clock(new Date().toISOString())} ${msg}`
  } catch {
    out.className = 'result small fail'
    out.textContent = 'The gateway did not answer.'
  } finally {
    btn.disabled = false
  }
}

// ---------- live feed ----------

function startStream (): void {
  if (stream !== null) return
  stream = new EventSource('/api/events')
  stream.addEventListener('status', (e) => {
    lastEventMs = Date.now()
    doc = JSON.parse((e as MessageEvent<string>).data) as Doc
    render()
    if (++ticks % 5 === 0) drawChart()
  })
  stream.addEventListener('history', (e) => {
    points = (JSON.parse((e as MessageEvent<string>).data) as { points: Point[] }).points
    drawChart()
  })
  stream.addEventListener('point', (e) => {
    points.push(JSON.parse((e as MessageEvent<string>).data) as Point)
    const since = Date.now() - 3_600_000
    while (points.length > 0 && points[0]!.t < since) points.shift()
    drawChart()
  })
  stream.addEventListener('expired', () => {
    stopStream()
    session.authenticated = false
    void loadSession().then(() => {
      text('login-error', 'Your session expired; log in again.')
      show('login-error', true)
    })
  })
  stream.onerror = () => {
    // EventSource retries by itself; a stream refused (401) is closed for good: check why.
    if (stream?.readyState === EventSource.CLOSED) {
      stopStream()
      setTimeout(() => { void loadSession().catch(() => setTimeout(() => startStream(), 3000)) }, 1000)
    }
  }
}

function stopStream (): void {
  stream?.close()
  stream = null
}

function liveIndicator (): void {
  const el = $('live')
  const age = (Date.now() - lastEventMs) / 1000
  const on = stream !== null && lastEventMs > 0 && age < 5
  el.className = `live ${on ? 'on' : 'off'}`
  el.textContent = on ? 'live' : (lastEventMs === 0 ? 'connecting…' : `no update for ${dur(age)} — gateway unreachable?`)
}

// ---------- rendering ----------

function render (): void {
  if (doc === null) return
  const d = doc
  const now = Date.parse(d.now)
  text('gw-id', d.gatewayId)

  const v = $('verdict')
  v.className = `verdict ${d.health.level}`
  const online = d.devices.filter((x) => x.connected).length
  const n = d.health.problems.length
  const title = d.health.level === 'ok'
    ? `All good — ${online} device${online === 1 ? '' : 's'} online, uplink ${STATE_WORDS[d.uplink.state] ?? d.uplink.state}`
    : d.health.level === 'crit' ? 'Needs attention now' : `${n} thing${n === 1 ? '' : 's'} to check`
  const vt = $('verdict-title')
  if (vt.dataset.title !== title + d.health.level) {
    vt.dataset.title = title + d.health.level
    vt.replaceChildren(el('span', '', `icon ${d.health.level}`), title)
  }
  const ul = $('verdict-list')
  ul.replaceChildren(...d.health.problems.map((p) => el('li', p.text, p.level)))

  const u = d.uplink
  const pill = $('uplink-state')
  pill.className = `pill ${u.state}`
  text('uplink-state', STATE_WORDS[u.state] ?? u.state)
  text('uplink-since', `since ${clock(u.since)} (${ago(u.since, now)})`)
  text('uplink-error', u.lastError !== null ? `Last error: ${u.lastError}` : '')
  show('uplink-error', u.lastError !== null && u.state !== 'connected')
  text('uplink-rate', `${rate(u.drainRate)} readings/s`)
  text('uplink-eta', eta(d))
  show('btn-pause', u.state !== 'paused')
  show('btn-resume', u.state === 'paused')
  // Without an uplink there is nothing to drain or pause; the test button still says why.
  for (const id of ['btn-drain', 'btn-pause', 'btn-resume']) {
    const b = $<HTMLButtonElement>(id)
    b.disabled = u.state === 'unconfigured'
    b.title = u.state === 'unconfigured' ? 'no uplink configured (kafka.brokers is empty)' : ''
  }
  $('uplink-history').replaceChildren(...d.uplinkHistory.slice(0, 10).map((h) => {
    const li = el('li', '')
    li.append(el('time', clock(h.at)), el('span', STATE_WORDS[h.state] ?? h.state, `pill ${h.state}`))
    if (h.reason !== null && h.reason !== '') li.append(' ', el('span', h.reason, 'muted'))
    return li
  }))

  const b = d.backlog
  text('backlog-readings', num(b.readings))
  text('backlog-bytes', bytes(b.bytes))
  const share = d.store.maxBytes > 0 ? b.bytes / d.store.maxBytes : 0
  text('backlog-share', `(${(share * 100).toFixed(share < 0.1 ? 2 : 0)}% of ${bytes(d.store.maxBytes)} budget)`)
  text('backlog-age', b.readings === 0 ? '–' : dur(b.oldestAgeS))
  text('backlog-rate', `${rate(u.drainRate)} readings/s`)
  text('backlog-eta', eta(d))
  const bar = $('backlog-bar')
  bar.style.width = `${Math.min(100, Math.max(share * 100, b.readings > 0 ? 1 : 0))}%`
  bar.className = share >= 0.95 ? 'crit' : share >= 0.8 ? 'warn' : ''

  const c = d.counters
  text('ingest-rate', rate(d.rates.ingestPerS))
  text('received', num(c.received))
  text('stored', num(c.stored))
  text('forwarded', num(c.forwarded))
  text('duplicates', num(c.duplicates))
  text('dropped', num(droppedTotal(c.dropped)))
  text('auth-failures', num(c.authFailures))
  text('mqtt-conns', d.mqtt.listening ? num(d.mqtt.connections) : 'listener down')
  const refused = c.refused ?? {}
  text('refused', num(droppedTotal(refused)))
  $('drop-reasons').replaceChildren(
    ...Object.entries(c.dropped).filter(([, n]) => n > 0).map(([r, n]) => el('li', `dropped, ${r.replace(/_/g, ' ')}: ${num(n)}`)),
    ...Object.entries(refused).filter(([, n]) => n > 0).map(([r, n]) => el('li', `refused, ${r.replace(/_/g, ' ')}: ${num(n)}`))
  )

  renderDevices()
  renderHost(d)

  $('log').replaceChildren(...(d.recentProblems.length === 0
    ? [el('li', 'Nothing since start.', 'muted')]
    : collapse(d.recentProblems).map(({ line: l, times }) => {
      const li = el('li', '')
      li.append(el('time', clock(l.time)), el('span', l.level, `lvl ${l.level}`))
      if (l.code !== undefined) li.append(el('code', l.code), ' ')
      li.append(l.msg)
      const detail = errText(l.err)
      if (detail !== '') li.append(' ', el('span', detail, 'muted'))
      if (times > 1) li.append(' ', el('strong', `×${times}`))
      return li
    })))

  text('cfg-gateway', d.gatewayId)
  text('cfg-version', d.version)
  text('cfg-uptime', dur(d.uptimeS))
  text('cfg-source', d.config.source)
  text('cfg-cversion', d.config.version === null ? 'local (no remote version)' : String(d.config.version))
  text('cfg-store', `synchronous=${d.store.synchronous}, budget ${bytes(d.store.maxBytes)}`)
  text('cfg-ready', d.ready.ok ? 'yes' : `no (${Object.entries(d.ready.checks).filter(([, ok]) => !ok).map(([k]) => k).join(', ')})`)
}

function errText (err: unknown): string {
  if (typeof err === 'string') return err
  if (err !== null && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string') return (err as { message: string }).message
  return ''
}

/** Repeats of the same problem in a row (newest first) become one line with a count. */
function collapse (lines: LogLine[]): Array<{ line: LogLine, times: number }> {
  const out: Array<{ line: LogLine, times: number }> = []
  const key = (l: LogLine): string => `${l.level}|${l.code ?? ''}|${l.msg}|${errText(l.err)}`
  for (const l of lines) {
    const prev = out[out.length - 1]
    if (prev !== undefined && key(prev.line) === key(l)) prev.times++
    else out.push({ line: l, times: 1 })
  }
  return out
}

function eta (d: Doc): string {
  if (d.backlog.readings === 0) return 'empty'
  if (d.uplink.state === 'paused') return 'paused'
  if (d.uplink.state === 'unconfigured') return 'never (no uplink)'
  return d.uplink.etaS === null ? 'unknown (not draining)' : dur(d.uplink.etaS)
}

function el (tag: string, content: string, cls?: string): HTMLElement {
  const e = document.createElement(tag)
  e.textContent = content
  if (cls !== undefined) e.className = cls
  return e
}

/** Share of the device's storage quota in use, or null when it has no cap (computed by the gateway). */
const quotaOf = (d: Device): number | null => typeof d.quotaUse === 'number' ? d.quotaUse : null
const throttledOf = (d: Device): number => d.throttled ?? 0

function sortValue (d: Device, key: string): number | string {
  switch (key) {
    case 'id': return d.id
    case 'connected': return d.connected ? 1 : 0
    case 'lastSeenS': return d.lastSeenS ?? Number.MAX_SAFE_INTEGER
    case 'droppedTotal': return droppedTotal(d.dropped)
    case 'quota': return quotaOf(d) ?? -1
    default: return (d as unknown as Record<string, number>)[key] ?? 0
  }
}

const MAX_ROWS = 500

function renderDevices (): void {
  if (doc === null) return
  const q = $<HTMLInputElement>('device-filter').value.trim().toLowerCase()
  const which = $<HTMLSelectElement>('device-state').value
  const rows = doc.devices.filter((d) => {
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
  const online = doc.devices.filter((d) => d.connected).length
  text('devices-count', `${online} online of ${doc.devices.length}`)
  const body = document.querySelector('#devices tbody')!
  body.replaceChildren(...rows.slice(0, MAX_ROWS).map((d) => {
    const tr = document.createElement('tr')
    tr.dataset.id = d.id
    const drops = droppedTotal(d.dropped)
    if (drops > 0 || d.authFailures > 0) tr.className = 'bad'
    const quota = quotaOf(d)
    const throttled = throttledOf(d)
    const quotaText = (quota === null ? 'no cap' : `${Math.round(quota * 100)}%`) + (throttled > 0 ? ` · ${num(throttled)} throttled` : '')
    const state = el('td', '')
    state.append(el('span', d.connected ? 'online' : 'offline', `pill ${d.connected ? 'online' : 'offline'}`))
    tr.append(
      el('td', d.id),
      state,
      el('td', d.lastSeenS === null ? 'never' : (d.lastSeenS < 2 ? 'now' : dur(d.lastSeenS) + ' ago'), 'num'),
      el('td', rate(d.ratePerS ?? 0), 'num'),
      el('td', num(d.received), 'num'),
      el('td', num(d.buffered), 'num'),
      el('td', num(drops), drops > 0 ? 'num alert' : 'num'),
      el('td', num(d.authFailures), d.authFailures > 0 ? 'num alert' : 'num'),
      el('td', quotaText, (quota !== null && quota >= 0.9) || throttled > 0 ? 'num alert' : 'num')
    )
    if (drops > 0) tr.title = Object.entries(d.dropped).map(([r, n]) => `${r}: ${n}`).join(', ')
    return tr
  }))
  const more = rows.length - MAX_ROWS
  text('devices-more', more > 0 ? `${more} more not shown: narrow the filter.` : '')
  show('devices-more', more > 0)
  for (const th of document.querySelectorAll<HTMLElement>('#devices th')) {
    if (th.dataset.key === sort.key) th.setAttribute('aria-sort', sort.dir === 1 ? 'ascending' : 'descending')
    else th.removeAttribute('aria-sort')
  }
}

function renderHost (d: Doc): void {
  const h = d.host
  text('host-cpu', h.cpuLoadPct === null ? '–' : `${h.cpuLoadPct}% of ${h.cores ?? '?'} cores${h.loadAvg !== null ? ` · load ${h.loadAvg.join(' ')}` : ''}`)
  text('host-mem', h.memUsedPct === null ? '–' : `${h.memUsedPct}% used · ${bytes(h.memAvailableBytes)} free of ${bytes(h.memTotalBytes)}`)
  text('host-disk', h.disk === null ? '–' : `${bytes(h.disk.freeBytes)} free of ${bytes(h.disk.sizeBytes)} (${h.disk.usedPct}% used${h.disk.mount !== null ? `, ${h.disk.mount}` : ''})`)
  text('host-temp', h.temperatureC === null ? 'not reported by this board' : `${h.temperatureC} °C`)
  text('host-uptime', dur(h.uptimeS))
  text('host-os', h.os === null ? '–' : `${h.hostname ?? ''} · ${h.os}`)
  $('host-net').replaceChildren(...h.network.filter((n) => !n.internal).concat(h.network.filter((n) => n.internal)).map((n) =>
    el('li', `${n.iface} ${n.state !== 'up' && n.state !== 'unknown' ? `(${n.state}) ` : ''}${[n.ip4, n.ip6].filter((x) => x !== '').join(' · ')}${n.speedMbps !== null && n.speedMbps > 0 ? ` · ${n.speedMbps} Mb/s` : ''}`, n.internal ? 'muted' : undefined))
  )
}

// ---------- chart ----------

const SVG = 'http://www.w3.org/2000/svg'
function svg (tag: string, attrs: Record<string, string>, content?: string): SVGElement {
  const e = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
  if (content !== undefined) e.textContent = content
  return e
}

function niceMax (v: number): number {
  if (v <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p
  return 10 * p
}

function drawChart (): void {
  const chart = $('chart') as unknown as SVGSVGElement
  // Draw in real pixels so labels stay readable at any width.
  const W = Math.max(280, Math.round(chart.clientWidth || 720))
  const H = 200
  chart.setAttribute('viewBox', `0 0 ${W} ${H}`)
  const L = 44
  const B = 18
  const T = 6
  const now = Date.now()
  // Up to an hour; a young gateway's few minutes get the whole width.
  const first = points.find((p) => p.t >= now - 3_600_000)?.t ?? now
  const spanMin = [5, 15, 30, 60].find((m) => now - first <= m * 60_000) ?? 60
  const tickMin = { 5: 1, 15: 5, 30: 10, 60: 15 }[spanMin]!
  const span = spanMin * 60_000
  const t0 = now - span
  text('chart-title', spanMin === 60 ? 'Last hour' : `Last ${spanMin} min`)
  const pts = points.filter((p) => p.t >= t0)
  // The live figures extend the line to now, so it moves between the recorded points.
  if (doc !== null && (pts.length === 0 || now - pts[pts.length - 1]!.t > 500)) {
    pts.push({ t: now, ingest: doc.rates.ingestPerS, forward: doc.rates.forwardPerS, drop: doc.rates.dropPerS, backlog: doc.backlog.readings })
  }
  const max = niceMax(Math.max(0, ...pts.map((p) => Math.max(p.ingest, p.forward, p.drop))))
  const x = (t: number): number => L + (W - L - 4) * (t - t0) / span
  const y = (v: number): number => T + (H - T - B) * (1 - v / max)
  const parts: SVGElement[] = []
  for (let i = 0; i <= 4; i++) {
    const v = max * i / 4
    parts.push(svg('line', { class: 'grid-line', x1: String(L), x2: String(W - 4), y1: String(y(v)), y2: String(y(v)) }))
    parts.push(svg('text', { x: String(L - 6), y: String(y(v) + 4), 'text-anchor': 'end' }, rate(v)))
  }
  for (let m = spanMin; m >= 0; m -= tickMin) {
    parts.push(svg('text', { x: String(x(now - m * 60_000)), y: String(H - 4), 'text-anchor': m === spanMin ? 'start' : m === 0 ? 'end' : 'middle' }, m === 0 ? 'now' : `−${m} min`))
  }
  for (const key of ['drop', 'forward', 'ingest'] as const) {
    if (pts.length === 0) continue
    const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`).join('')
    parts.push(svg('path', { class: `s ${key}`, d }))
    const last = pts[pts.length - 1]!
    parts.push(svg('circle', { class: `dot ${key}`, cx: x(last.t).toFixed(1), cy: y(last[key]).toFixed(1), r: '3' }))
  }
  if (pts.length < 3) parts.push(svg('text', { x: String(W / 2), y: String(H / 2), 'text-anchor': 'middle' }, 'collecting — a point every few seconds'))
  chart.replaceChildren(...parts)
}

// ---------- wiring ----------

function wire (): void {
  $('login-form').addEventListener('submit', (e) => { void login(e as SubmitEvent) })
  $('btn-logout').addEventListener('click', () => { void logout() })
  $('btn-login-open').addEventListener('click', () => { show('login', true); $('password').focus() })
  for (const b of document.querySelectorAll<HTMLButtonElement>('#actions button')) b.addEventListener('click', () => { void act(b) })
  $('device-filter').addEventListener('input', renderDevices)
  $('device-state').addEventListener('change', renderDevices)
  for (const th of document.querySelectorAll<HTMLElement>('#devices th')) {
    const resort = (): void => {
      const key = th.dataset.key!
      sort.dir = sort.key === key ? -sort.dir : (key === 'id' ? 1 : -1)
      sort.key = key
      renderDevices()
    }
    th.addEventListener('click', resort)
    th.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); resort() } })
  }
  setInterval(liveIndicator, 1000)
  setInterval(drawChart, 30_000)
  window.addEventListener('resize', drawChart)
  drawChart()
  void loadSession().catch(() => { text('live', 'gateway unreachable') })
}

wire()

export {}
