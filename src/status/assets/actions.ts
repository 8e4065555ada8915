/** The technician's buttons: each reports what actually happened (browser code). */
import { $, bytes, clock, dur, num, show, text } from './dom.js'

export interface Poster {
  post: (path: string) => Promise<{ status: number; body: Record<string, unknown> }>
  csrf: () => string
  relogin: () => Promise<void>
}

interface DrainResult {
  outcome: string
  sent: number
  backlog: number
  outageSince: string | null
  cause: string | null
}

const since = (iso: string | null): string =>
  iso === null ? '' : ` since ${clock(iso)} (${dur((Date.now() - Date.parse(iso)) / 1000)})`

/** "Drain now" in words: what was sent, or why nothing was. */
export function drainWords(r: DrainResult): { ok: boolean; msg: string } {
  switch (r.outcome) {
    case 'sent':
      return { ok: true, msg: `Sent ${num(r.sent)} readings; ${num(r.backlog)} still buffered.` }
    case 'empty':
      return { ok: true, msg: 'Nothing to send: the backlog is empty.' }
    case 'paused':
      return {
        ok: false,
        msg: `Nothing sent: forwarding is paused. Resume forwarding first (${num(r.backlog)} readings waiting).`
      }
    case 'down':
      return {
        ok: false,
        msg: `Nothing to send: uplink down${since(r.outageSince)}.${r.cause !== null ? ` ${r.cause}.` : ''} ${num(r.backlog)} readings stay buffered.`
      }
    case 'held':
      return {
        ok: false,
        msg: `Nothing sent: the uplink budget holds the buffered readings back (${num(r.backlog)} waiting).`
      }
    case 'pending':
      return { ok: false, msg: `Kafka has not answered yet; still trying (${num(r.backlog)} readings waiting).` }
    default:
      return { ok: false, msg: 'Nothing sent: no uplink configured (kafka.brokers is empty).' }
  }
}

function result(ok: boolean, msg: string, raw: string | null = null): void {
  const out = $('action-result')
  out.className = `result small ${ok ? 'ok' : 'fail'}`
  text('action-text', `${clock(new Date().toISOString())} ${msg}`)
  text('action-raw', raw ?? '')
  show('action-raw-box', raw !== null && raw !== '')
  out.hidden = false
}

export async function act(btn: HTMLButtonElement, p: Poster): Promise<void> {
  const name = btn.dataset.action!
  const label = btn.textContent ?? name
  btn.disabled = true
  const out = $('action-result')
  out.className = 'result small'
  text('action-text', `${label}…`)
  show('action-raw-box', false)
  out.hidden = false
  try {
    const { status, body } = await p.post(`/api/actions/${name}`)
    if (status === 401) return await p.relogin()
    if (status !== 200) return result(false, `${label} refused: ${String(body.error ?? status)}`)
    if (name === 'test-uplink') {
      if (body.ok === true) return result(true, `Uplink answered in ${String(body.ms)} ms.`)
      return result(
        false,
        `Uplink test failed: ${String(body.cause ?? body.error ?? 'unknown error')}.`,
        typeof body.error === 'string' ? body.error : null
      )
    }
    if (name === 'drain') {
      const w = drainWords(body.result as DrainResult)
      return result(w.ok, w.msg)
    }
    if (name === 'pause') return result(true, 'Forwarding paused: readings are kept until you resume.')
    if (name === 'resume') {
      const u = body.uplink as { link?: string; state?: string } | undefined
      const link = u?.link ?? u?.state ?? 'connected'
      return result(
        true,
        link === 'connected' ? 'Forwarding resumed.' : `Forwarding resumed; the uplink is still ${link}.`
      )
    }
    result(true, 'Done.')
  } catch {
    result(false, 'The gateway did not answer.')
  } finally {
    btn.disabled = document.body.classList.contains('stale')
  }
}

/** The diagnostics bundle, fetched and saved, then confirmed with its name and size. */
export async function downloadDiagnostics(p: Poster): Promise<void> {
  const out = $('diag-result')
  const btn = $<HTMLButtonElement>('btn-diag')
  btn.disabled = true
  out.className = 'result small'
  out.textContent = 'Preparing the diagnostics bundle…'
  out.hidden = false
  try {
    const r = await fetch('/api/diagnostics', {
      method: 'POST',
      headers: { 'x-csrf-token': p.csrf(), 'content-type': 'application/json' },
      body: '{}'
    })
    if (r.status === 401) return await p.relogin()
    if (!r.ok) throw new Error(String(r.status))
    const name =
      /filename="([^"]+)"/.exec(r.headers.get('content-disposition') ?? '')?.[1] ?? 'holdfast-diagnostics.json'
    const blob = await r.blob()
    const a = document.createElement('a')
    a.href = URL.createObjectURL(blob)
    a.download = name
    document.body.append(a)
    a.click()
    a.remove()
    setTimeout(() => URL.revokeObjectURL(a.href), 60_000)
    out.className = 'result small ok'
    out.textContent = `Saved ${name} (${bytes(blob.size)}) to your downloads. Passwords and keys are left out.`
  } catch {
    out.className = 'result small fail'
    out.textContent = 'The diagnostics bundle could not be made: the gateway did not answer.'
  } finally {
    btn.disabled = document.body.classList.contains('stale')
  }
}
