/**
 * The rates chart: inline SVG drawn in real pixels, spanning 5 min to an hour as the data allows
 * (browser code). Rates on the left scale, the backlog on the right one; pointing at the chart
 * shows the values of the nearest point.
 */
import { $, clock, num, rate, show, text } from './dom.js'
import type { Doc, Point } from './types.js'

const SVG = 'http://www.w3.org/2000/svg'
function svg(tag: string, attrs: Record<string, string>, content?: string): SVGElement {
  const e = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
  if (content !== undefined) e.textContent = content
  return e
}

function niceMax(v: number): number {
  if (v <= 0) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p
  return 10 * p
}

const short = (n: number): string =>
  n >= 1e6 ? `${Math.round(n / 1e5) / 10}M` : n >= 1e4 ? `${Math.round(n / 100) / 10}k` : num(Math.round(n))

/** What the last drawing mapped: for the hover read-out. */
let drawn: { pts: Point[]; x: (t: number) => number; L: number; R: number } | null = null

export function drawChart(points: readonly Point[], doc: Doc | null): void {
  const chart = $('chart') as unknown as SVGSVGElement
  // Draw in real pixels so labels stay readable at any width.
  const W = Math.max(280, Math.round(chart.clientWidth || 720))
  const H = 200
  chart.setAttribute('viewBox', `0 0 ${W} ${H}`)
  const L = 44
  const R = 44
  const B = 18
  const T = 6
  const now = Date.now()
  // Up to an hour; a young gateway's few minutes get the whole width.
  const first = points.find(p => p.t >= now - 3_600_000)?.t ?? now
  const spanMin = [5, 15, 30, 60].find(m => now - first <= m * 60_000) ?? 60
  const tickMin = { 5: 1, 15: 5, 30: 10, 60: 15 }[spanMin]!
  const span = spanMin * 60_000
  const t0 = now - span
  const title = spanMin === 60 ? 'Last hour' : `Last ${spanMin} min`
  text('chart-title', title)
  chart.setAttribute('aria-label', `readings per second and backlog, ${title.toLowerCase()}`)
  const pts = points.filter(p => p.t >= t0)
  // The live figures extend the line to now, so it moves between the recorded points.
  if (doc !== null && (pts.length === 0 || now - pts[pts.length - 1]!.t > 500)) {
    pts.push({
      t: now,
      ingest: doc.rates.ingestPerS,
      forward: doc.rates.forwardPerS,
      drop: doc.rates.dropPerS,
      backlog: doc.backlog.readings
    })
  }
  const max = niceMax(Math.max(0, ...pts.map(p => Math.max(p.ingest, p.forward, p.drop))))
  const bmax = niceMax(Math.max(0, ...pts.map(p => p.backlog)))
  const x = (t: number): number => L + ((W - L - R) * (t - t0)) / span
  const y = (v: number): number => T + (H - T - B) * (1 - v / max)
  const yb = (v: number): number => T + (H - T - B) * (1 - v / bmax)
  const parts: SVGElement[] = []
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4
    parts.push(
      svg('line', { class: 'grid-line', x1: String(L), x2: String(W - R), y1: String(y(v)), y2: String(y(v)) })
    )
    parts.push(svg('text', { x: String(L - 6), y: String(y(v) + 4), 'text-anchor': 'end' }, rate(v)))
    parts.push(svg('text', { x: String(W - R + 6), y: String(y(v) + 4), class: 'axis-backlog' }, short((bmax * i) / 4)))
  }
  // On a phone, label every other tick so the labels do not run into each other.
  const every = (W - L - R) / (spanMin / tickMin) < 60 ? 2 : 1
  for (let m = spanMin, i = 0; m >= 0; m -= tickMin, i++) {
    if (i % every !== 0 && m !== 0) continue
    parts.push(
      svg(
        'text',
        {
          x: String(x(now - m * 60_000)),
          y: String(H - 4),
          'text-anchor': m === spanMin ? 'start' : m === 0 ? 'end' : 'middle'
        },
        m === 0 ? 'now' : `−${m} min`
      )
    )
  }
  if (pts.length > 0) {
    const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${yb(p.backlog).toFixed(1)}`).join('')
    parts.push(svg('path', { class: 's backlog', d }))
  }
  for (const key of ['drop', 'forward', 'ingest'] as const) {
    if (pts.length === 0) continue
    const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`).join('')
    parts.push(svg('path', { class: `s ${key}`, d }))
    const last = pts[pts.length - 1]!
    parts.push(svg('circle', { class: `dot ${key}`, cx: x(last.t).toFixed(1), cy: y(last[key]).toFixed(1), r: '3' }))
  }
  if (pts.length < 3)
    parts.push(
      svg(
        'text',
        { x: String(W / 2), y: String(H / 2), 'text-anchor': 'middle' },
        'collecting — a point every few seconds'
      )
    )
  parts.push(
    svg('line', {
      id: 'chart-cursor',
      class: 'cursor',
      x1: '0',
      x2: '0',
      y1: String(T),
      y2: String(H - B),
      visibility: 'hidden'
    })
  )
  chart.replaceChildren(...parts)
  drawn = { pts, x, L, R }
}

/** Pointing at (or touching) the chart shows the nearest point's values. */
export function wireChart(): void {
  const chart = $('chart')
  const tip = $('chart-tip')
  const hide = (): void => {
    show('chart-tip', false)
    document.getElementById('chart-cursor')?.setAttribute('visibility', 'hidden')
  }
  chart.addEventListener('pointermove', e => {
    if (drawn === null || drawn.pts.length === 0) return hide()
    const box = chart.getBoundingClientRect()
    const vb = (chart as unknown as SVGSVGElement).viewBox.baseVal
    const px = ((e.clientX - box.left) / box.width) * vb.width
    let best = drawn.pts[0]!
    for (const p of drawn.pts) if (Math.abs(drawn.x(p.t) - px) < Math.abs(drawn.x(best.t) - px)) best = p
    const cx = drawn.x(best.t)
    const cursor = document.getElementById('chart-cursor')
    cursor?.setAttribute('x1', cx.toFixed(1))
    cursor?.setAttribute('x2', cx.toFixed(1))
    cursor?.setAttribute('visibility', 'visible')
    tip.textContent = `${clock(new Date(best.t).toISOString())} · ingest ${rate(best.ingest)}/s · forward ${rate(best.forward)}/s · dropped ${rate(best.drop)}/s · backlog ${num(best.backlog)}`
    show('chart-tip', true)
    const left = (cx / vb.width) * box.width
    tip.style.left = `${Math.max(0, Math.min(box.width - tip.offsetWidth, left - tip.offsetWidth / 2))}px`
  })
  chart.addEventListener('pointerleave', hide)
}
