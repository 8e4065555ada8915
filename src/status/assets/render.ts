/** Fills the page's cards from one status document (browser code). */
import { renderDevices } from './devices.js'
import { $, ago, bytes, clock, droppedTotal, dur, el, num, rate, show, STATE_WORDS, text } from './dom.js'
import type { Doc, LogLine } from './types.js'

export function render(d: Doc): void {
  const now = Date.parse(d.now)
  text('gw-id', d.gatewayId)

  const v = $('verdict')
  v.className = `verdict ${d.health.level}`
  const online = d.devices.filter(x => x.connected).length
  const n = d.health.problems.length
  const title =
    d.health.level === 'ok'
      ? `All good — ${online} device${online === 1 ? '' : 's'} online, uplink ${STATE_WORDS[d.uplink.state] ?? d.uplink.state}`
      : d.health.level === 'crit'
        ? 'Needs attention now'
        : `${n} thing${n === 1 ? '' : 's'} to check`
  const vt = $('verdict-title')
  if (vt.dataset.title !== title + d.health.level) {
    vt.dataset.title = title + d.health.level
    vt.replaceChildren(el('span', '', `icon ${d.health.level}`), title)
  }
  const ul = $('verdict-list')
  ul.replaceChildren(...d.health.problems.map(p => el('li', p.text, p.level)))

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
  $('uplink-history').replaceChildren(
    ...d.uplinkHistory.slice(0, 10).map(h => {
      const li = el('li', '')
      li.append(el('time', clock(h.at)), el('span', STATE_WORDS[h.state] ?? h.state, `pill ${h.state}`))
      if (h.reason !== null && h.reason !== '') li.append(' ', el('span', h.reason, 'muted'))
      return li
    })
  )

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
    ...Object.entries(c.dropped)
      .filter(([, n]) => n > 0)
      .map(([r, n]) => el('li', `dropped, ${r.replace(/_/g, ' ')}: ${num(n)}`)),
    ...Object.entries(refused)
      .filter(([, n]) => n > 0)
      .map(([r, n]) => el('li', `refused, ${r.replace(/_/g, ' ')}: ${num(n)}`))
  )

  renderDevices(d)
  renderHost(d)

  $('log').replaceChildren(
    ...(d.recentProblems.length === 0
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
        }))
  )

  text('cfg-gateway', d.gatewayId)
  text('cfg-version', d.version)
  text('cfg-uptime', dur(d.uptimeS))
  text('cfg-source', d.config.source)
  text('cfg-cversion', d.config.version === null ? 'local (no remote version)' : String(d.config.version))
  text('cfg-store', `synchronous=${d.store.synchronous}, budget ${bytes(d.store.maxBytes)}`)
  text(
    'cfg-ready',
    d.ready.ok
      ? 'yes'
      : `no (${Object.entries(d.ready.checks)
          .filter(([, ok]) => !ok)
          .map(([k]) => k)
          .join(', ')})`
  )
}

function errText(err: unknown): string {
  if (typeof err === 'string') return err
  if (err !== null && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string')
    return (err as { message: string }).message
  return ''
}

/** Repeats of the same problem in a row (newest first) become one line with a count. */
function collapse(lines: LogLine[]): Array<{ line: LogLine; times: number }> {
  const out: Array<{ line: LogLine; times: number }> = []
  const key = (l: LogLine): string => `${l.level}|${l.code ?? ''}|${l.msg}|${errText(l.err)}`
  for (const l of lines) {
    const prev = out[out.length - 1]
    if (prev !== undefined && key(prev.line) === key(l)) prev.times++
    else out.push({ line: l, times: 1 })
  }
  return out
}

function eta(d: Doc): string {
  if (d.backlog.readings === 0) return 'empty'
  if (d.uplink.state === 'paused') return 'paused'
  if (d.uplink.state === 'unconfigured') return 'never (no uplink)'
  return d.uplink.etaS === null ? 'unknown (not draining)' : dur(d.uplink.etaS)
}

function renderHost(d: Doc): void {
  const h = d.host
  text(
    'host-cpu',
    h.cpuLoadPct === null
      ? '–'
      : `${h.cpuLoadPct}% of ${h.cores ?? '?'} cores${h.loadAvg !== null ? ` · load ${h.loadAvg.join(' ')}` : ''}`
  )
  text(
    'host-mem',
    h.memUsedPct === null
      ? '–'
      : `${h.memUsedPct}% used · ${bytes(h.memAvailableBytes)} free of ${bytes(h.memTotalBytes)}`
  )
  text(
    'host-disk',
    h.disk === null
      ? '–'
      : `${bytes(h.disk.freeBytes)} free of ${bytes(h.disk.sizeBytes)} (${h.disk.usedPct}% used${h.disk.mount !== null ? `, ${h.disk.mount}` : ''})`
  )
  text('host-temp', h.temperatureC === null ? 'not reported by this board' : `${h.temperatureC} °C`)
  text('host-uptime', dur(h.uptimeS))
  text('host-os', h.os === null ? '–' : `${h.hostname ?? ''} · ${h.os}`)
  $('host-net').replaceChildren(
    ...h.network
      .filter(n => !n.internal)
      .concat(h.network.filter(n => n.internal))
      .map(n =>
        el(
          'li',
          `${n.iface} ${n.state !== 'up' && n.state !== 'unknown' ? `(${n.state}) ` : ''}${[n.ip4, n.ip6].filter(x => x !== '').join(' · ')}${n.speedMbps !== null && n.speedMbps > 0 ? ` · ${n.speedMbps} Mb/s` : ''}`,
          n.internal ? 'muted' : undefined
        )
      )
  )
}
