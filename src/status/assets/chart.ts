/** The rates chart: inline SVG drawn in real pixels, spanning 5 min to an hour as the data allows (browser code). */
import { $, rate, text } from './dom.js'
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

export function drawChart(points: readonly Point[], doc: Doc | null): void {
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
  const first = points.find(p => p.t >= now - 3_600_000)?.t ?? now
  const spanMin = [5, 15, 30, 60].find(m => now - first <= m * 60_000) ?? 60
  const tickMin = { 5: 1, 15: 5, 30: 10, 60: 15 }[spanMin]!
  const span = spanMin * 60_000
  const t0 = now - span
  text('chart-title', spanMin === 60 ? 'Last hour' : `Last ${spanMin} min`)
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
  const x = (t: number): number => L + ((W - L - 4) * (t - t0)) / span
  const y = (v: number): number => T + (H - T - B) * (1 - v / max)
  const parts: SVGElement[] = []
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4
    parts.push(
      svg('line', { class: 'grid-line', x1: String(L), x2: String(W - 4), y1: String(y(v)), y2: String(y(v)) })
    )
    parts.push(svg('text', { x: String(L - 6), y: String(y(v) + 4), 'text-anchor': 'end' }, rate(v)))
  }
  // On a phone, label every other tick so the labels do not run into each other.
  const every = (W - L) / (spanMin / tickMin) < 60 ? 2 : 1
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
  chart.replaceChildren(...parts)
}
