/**
 * The technicians' page script. Runs in the browser: compiled by tsc like the rest and served
 * from dist as /assets/app.js. No framework, no outside requests: session from /api/session,
 * live figures from /api/events (server-sent events), actions by POST with the CSRF token.
 */

import { drawChart } from './chart.js'
import { wireDevices } from './devices.js'
import { $, dur, show, text, clock } from './dom.js'
import { render } from './render.js'
import type { Doc, Point, SessionInfo } from './types.js'

let session: SessionInfo = { public: false, loginAvailable: false, authenticated: false, csrf: null, expiresAt: null }
let doc: Doc | null = null
let points: Point[] = []
let stream: EventSource | null = null
let lastEventMs = 0
let ticks = 0

const chart = (): void => drawChart(points, doc)

// ---------- session and login ----------

async function loadSession(): Promise<void> {
  const r = await fetch('/api/session', { cache: 'no-store' })
  session = (await r.json()) as SessionInfo
  applySession()
}

function applySession(): void {
  const canView = session.public || session.authenticated
  show('login', !canView)
  show('dash', canView)
  show('live', canView)
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
  if (canView) startStream()
  else stopStream()
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
  await post('/api/logout')
  await loadSession()
}

async function post(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
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
}

// ---------- actions ----------

async function act(btn: HTMLButtonElement): Promise<void> {
  const name = btn.dataset.action!
  const label = btn.textContent ?? name
  btn.disabled = true
  const out = $('action-result')
  out.className = 'result small'
  out.textContent = `${label}…`
  out.hidden = false
  try {
    const { status, body } = await post(`/api/actions/${name}`)
    if (status === 401) {
      await loadSession()
      return
    }
    let ok = status === 200
    let msg: string
    if (name === 'test-uplink' && status === 200) {
      ok = body.ok === true
      msg = ok
        ? `Uplink answered in ${String(body.ms)} ms.`
        : `Uplink test failed: ${String(body.error ?? 'unknown error')}`
    } else if (ok) {
      msg =
        {
          drain: 'Draining the backlog now.',
          pause: 'Forwarding paused: readings are kept until you resume.',
          resume: 'Forwarding resumed.'
        }[name] ?? 'Done.'
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

function startStream(): void {
  if (stream !== null) return
  stream = new EventSource('/api/events')
  stream.addEventListener('status', e => {
    lastEventMs = Date.now()
    doc = JSON.parse((e as MessageEvent<string>).data) as Doc
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

function liveIndicator(): void {
  const el = $('live')
  const age = (Date.now() - lastEventMs) / 1000
  const on = stream !== null && lastEventMs > 0 && age < 5
  el.className = `live ${on ? 'on' : 'off'}`
  el.textContent = on ? 'live' : lastEventMs === 0 ? 'connecting…' : `no update for ${dur(age)} — gateway unreachable?`
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
      void act(b)
    })
  wireDevices(() => doc)
  setInterval(liveIndicator, 1000)
  setInterval(chart, 30_000)
  window.addEventListener('resize', chart)
  chart()
  void loadSession().catch(() => {
    text('live', 'gateway unreachable')
  })
}

wire()
