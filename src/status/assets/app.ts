/**
 * The technicians' page script. Runs in the browser: compiled by tsc like the rest and served
 * from dist as /assets/app.js. No framework, no outside requests: session from /api/session,
 * live figures from /api/events (server-sent events), actions by POST with the CSRF token.
 * Two views: the dashboard (`#/`) and one device (`#/devices/<id>`). A page that stops hearing
 * from the gateway says so: after two missed updates it greys out and disables the actions.
 */

import { act, downloadDiagnostics, type Poster } from './actions.js'
import { drawChart, wireChart } from './chart.js'
import { deviceIdFromHash, loadDevice, renderDevice } from './device.js'
import { showDropped, showOffline, wireDevices } from './devices.js'
import { $, clock, dur, show, text } from './dom.js'
import { render } from './render.js'
import type { Doc, Point, SessionInfo } from './types.js'

let session: SessionInfo = { public: false, loginAvailable: false, authenticated: false, csrf: null, expiresAt: null }
let doc: Doc | null = null
let points: Point[] = []
let stream: EventSource | null = null
let lastEventMs = 0
let ticks = 0
let stale = false

const chart = (): void => drawChart(points, doc)
/** Updates the gateway sends per interval; the page is stale after two of them are missed. */
const interval = (): number => doc?.pushIntervalMs ?? 1000

// ---------- session and login ----------

async function loadSession(): Promise<void> {
  const r = await fetch('/api/session', { cache: 'no-store' })
  session = (await r.json()) as SessionInfo
  applySession()
}

function applySession(): void {
  const canView = session.public || session.authenticated
  if (session.gatewayId !== undefined) {
    text('login-gw-id', session.gatewayId)
    text('gw-id', session.gatewayId)
    document.title = `Holdfast · ${session.gatewayId}`
  }
  show('login-gateway', session.gatewayId !== undefined)
  show('login', !canView)
  show('dash', canView)
  show('live', canView)
  // Before login the footer links would only answer 401: they appear with the data.
  show('foot-links', canView)
  show('btn-login-open', canView && !session.authenticated && session.loginAvailable)
  show('btn-logout', session.authenticated)
  text('who', session.authenticated ? 'technician' : session.public ? 'read-only view' : '')
  show('actions', session.authenticated)
  show('actions-locked', !session.authenticated)
  text(
    'actions-locked',
    session.loginAvailable
      ? 'Log in as technician to test, drain or pause the uplink.'
      : 'No technician password is configured (status.passwordHash): uplink actions are unavailable.'
  )
  show('diag-form', session.authenticated)
  $<HTMLInputElement>('diag-csrf').value = session.csrf ?? ''
  if (!session.loginAvailable) {
    text(
      'login-note',
      'No technician password is configured on this gateway (status.passwordHash). Set one with `holdfast hash-password`, or open the read-only view with --status-public.'
    )
    $<HTMLButtonElement>('btn-login').disabled = true
  }
  if (canView) {
    startStream()
    route()
  } else stopStream()
}

async function login(ev: SubmitEvent): Promise<void> {
  ev.preventDefault()
  const input = $<HTMLInputElement>('password')
  const btn = $<HTMLButtonElement>('btn-login')
  btn.disabled = true
  show('login-error', false)
  try {
    const r = await fetch('/api/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ password: input.value })
    })
    const body = (await r.json()) as { error?: string; code?: string }
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

async function logout(): Promise<void> {
  await poster.post('/api/logout')
  // The stream ends with the session: that is not a lost gateway (a screen reader heard "No contact").
  stopStream()
  lastEventMs = 0
  setStale(false)
  text('announce', '')
  await loadSession()
}

const poster: Poster = {
  async post(path) {
    const r = await fetch(path, {
      method: 'POST',
      headers: { 'x-csrf-token': session.csrf ?? '', 'content-type': 'application/json' },
      body: '{}'
    })
    let body: Record<string, unknown> = {}
    try {
      body = (await r.json()) as Record<string, unknown>
    } catch {}
    return { status: r.status, body }
  },
  csrf: () => session.csrf ?? '',
  relogin: loadSession
}

// ---------- live feed, and a page that knows when it is stale ----------

function startStream(): void {
  if (stream !== null) return
  stream = new EventSource('/api/events')
  stream.addEventListener('status', e => {
    lastEventMs = Date.now()
    doc = JSON.parse((e as MessageEvent<string>).data) as Doc
    setStale(false)
    render(doc)
    if (++ticks % 5 === 0) chart()
  })
  stream.addEventListener('history', e => {
    points = (JSON.parse((e as MessageEvent<string>).data) as { points: Point[] }).points
    chart()
  })
  stream.addEventListener('point', e => {
    points.push(JSON.parse((e as MessageEvent<string>).data) as Point)
    const since = Date.now() - 3_600_000
    while (points.length > 0 && points[0]!.t < since) points.shift()
    chart()
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
      setTimeout(() => {
        void loadSession().catch(() => setTimeout(() => startStream(), 3000))
      }, 1000)
    }
  }
}

function stopStream(): void {
  stream?.close()
  stream = null
}

/** Greyed figures, a verdict that says since when nothing came, and no buttons to press. */
function setStale(on: boolean): void {
  if (stale === on) return
  stale = on
  document.body.classList.toggle('stale', on)
  for (const b of document.querySelectorAll<HTMLButtonElement>('#actions button, #btn-diag')) b.disabled = on
  if (on) {
    const at = lastEventMs > 0 ? clock(new Date(lastEventMs).toISOString()) : 'this page opened'
    const v = $('verdict')
    v.className = 'verdict stale'
    const icon = document.createElement('span')
    icon.className = 'icon stale'
    $('verdict-title').replaceChildren(icon, `No contact with the gateway since ${at}`)
    $('verdict-list').replaceChildren()
    const li = document.createElement('li')
    li.textContent =
      'The figures below are the last ones received and may be out of date. Check that the gateway is powered and on the network; this page reconnects by itself.'
    $('verdict-list').append(li)
    $('announce').dataset.key = ''
    text('announce', `No contact with the gateway since ${at}`)
  } else if (doc !== null) render(doc)
}

function liveIndicator(): void {
  const el = $('live')
  const ageMs = Date.now() - lastEventMs
  const on = stream !== null && lastEventMs > 0 && ageMs < 2 * interval() + 500
  if (lastEventMs > 0) setStale(!on)
  el.className = `live ${on ? 'on' : 'off'}`
  text(
    'live',
    on
      ? 'live'
      : lastEventMs === 0
        ? 'connecting…'
        : `no contact since ${clock(new Date(lastEventMs).toISOString())} (${dur(ageMs / 1000)})`
  )
}

// ---------- views: the dashboard or one device ----------

let deviceTimer: number | undefined

function route(): void {
  const id = deviceIdFromHash(location.hash)
  window.clearTimeout(deviceTimer)
  show('view-main', id === null)
  show('view-device', id !== null)
  if (id === null) return
  const refresh = async (): Promise<void> => {
    const d = await loadDevice(id)
    if (deviceIdFromHash(location.hash) !== id) return
    if (d === 'login') return void loadSession()
    if (d !== 'unreachable') renderDevice(id, d)
    deviceTimer = window.setTimeout(() => void refresh(), Math.max(1000, interval()))
  }
  text('device-id', id)
  document.title = `${id} · Holdfast · ${session.gatewayId ?? ''}`
  void refresh()
  window.scrollTo(0, 0)
}

// ---------- wiring ----------

function wire(): void {
  $('login-form').addEventListener('submit', e => {
    void login(e as SubmitEvent)
  })
  $('btn-logout').addEventListener('click', () => {
    void logout()
  })
  $('btn-login-open').addEventListener('click', () => {
    show('login', true)
    $('password').focus()
  })
  for (const b of document.querySelectorAll<HTMLButtonElement>('#actions button'))
    b.addEventListener('click', () => {
      void act(b, poster)
    })
  $('diag-form').addEventListener('submit', e => {
    e.preventDefault()
    void downloadDiagnostics(poster)
  })
  $('verdict').addEventListener('click', e => {
    const a = (e.target as Element).closest('a[data-show-offline], a[data-show-dropped]') as HTMLElement | null
    if (a === null) return
    e.preventDefault()
    if (location.hash.startsWith('#/devices/')) location.hash = '#/'
    if (a.dataset.showDropped !== undefined) showDropped()
    else showOffline()
  })
  window.addEventListener('hashchange', () => {
    route()
    if (deviceIdFromHash(location.hash) === null) {
      document.title = `Holdfast · ${session.gatewayId ?? ''}`
      $('card-devices').scrollIntoView()
    }
  })
  wireDevices(() => doc)
  wireChart()
  setInterval(liveIndicator, 500)
  setInterval(chart, 30_000)
  window.addEventListener('resize', chart)
  chart()
  void loadSession().catch(() => {
    text('live', 'gateway unreachable')
  })
}

wire()
