/** Fills the dashboard's cards from one status document (browser code). */
import { renderDevices } from './devices.js'
import {
  $,
  ago,
  bytes,
  clock,
  deviceHref,
  droppedTotal,
  dur,
  el,
  link,
  num,
  rate,
  show,
  STATE_EXPLAIN,
  STATE_WORDS,
  text,
  when
} from './dom.js'
import type { Doc, LogLine, Problem } from './types.js'

/** Devices (offline ones, those dropping readings) named in the verdict before "and N more". */
const NAMED_DEVICES = 5

export function verdictTitle(d: Doc): string {
  const online = d.devices.filter(x => x.connected).length
  const n = d.health.problems.length
  return d.health.level === 'ok'
    ? `All good — ${online} device${online === 1 ? '' : 's'} online, uplink ${STATE_WORDS[d.uplink.state] ?? d.uplink.state}`
    : d.health.level === 'crit'
      ? 'Needs attention now'
      : `${n} thing${n === 1 ? '' : 's'} to check`
}

/** The verdict: redrawn only when it changed (a screen reader hears it once, a selection in it survives). */
export function renderVerdict(d: Doc): void {
  const v = $('verdict')
  const title = verdictTitle(d)
  const key = JSON.stringify([d.health.level, title, d.health.problems])
  if (v.dataset.key === key && !v.classList.contains('stale')) return
  v.dataset.key = key
  v.className = `verdict ${d.health.level}`
  $('verdict-title').replaceChildren(el('span', '', `icon ${d.health.level}`), title)
  $('verdict-list').replaceChildren(...d.health.problems.map(problemItem))
  // The polite live region hears the verdict when what is wrong changes, not when a duration ticks on.
  const heard = JSON.stringify([title, d.health.problems.map(p => `${p.level}:${p.area ?? ''}`)])
  const a = $('announce')
  if (a.dataset.key !== heard) {
    a.dataset.key = heard
    const first = d.health.problems[0]
    a.textContent = first === undefined ? title : `${title}: ${first.text}`
  }
}

function problemItem(p: Problem): HTMLElement {
  const li = el('li', '', p.level)
  if (p.devices === undefined || p.devices.length === 0) {
    li.textContent = p.text
    return li
  }
  // "N devices offline for over a minute: a, b, c and 2 more", "N readings dropped in the last minute
  // (…), by device: a, b and 2 more": each a link to its device view.
  const named = p.text.indexOf(`: ${p.devices[0]}`)
  const colon = named > 0 ? named : p.text.indexOf(': ')
  li.append(colon > 0 ? p.text.slice(0, colon + 2) : `${p.text} `)
  p.devices.slice(0, NAMED_DEVICES).forEach((id, i) => {
    if (i > 0) li.append(', ')
    li.append(link(deviceHref(id), id))
  })
  const more = p.devices.length - NAMED_DEVICES
  if (more > 0) {
    li.append(' and ')
    const a = link('#/', `${more} more`)
    // The rest in the devices list: the offline ones, or those with drops, most dropped first.
    if (p.code === 'readings_dropped') a.dataset.showDropped = '1'
    else a.dataset.showOffline = '1'
    li.append(a)
  }
  return li
}

export function render(d: Doc): void {
  const now = Date.parse(d.now)
  text('gw-id', d.gatewayId)
  renderVerdict(d)
  renderUplink(d, now)
  renderBacklog(d)

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
  replaceIfChanged(
    'drop-reasons',
    [
      ...Object.entries(c.dropped)
        .filter(([, n]) => n > 0)
        .map(([r, n]) => `dropped, ${r.replace(/_/g, ' ')}: ${num(n)}`),
      ...Object.entries(refused)
        .filter(([, n]) => n > 0)
        .map(([r, n]) => `refused, ${r.replace(/_/g, ' ')}: ${num(n)}`)
    ].map(t => () => el('li', t))
  )

  renderDevices(d)
  renderFigures(d)
  renderHost(d)
  renderLog(d)

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

/** Replace a list's items only when their text changed (keeps selections and screen readers calm). */
function replaceIfChanged(id: string, items: Array<() => HTMLElement>, key?: string): void {
  const e = $(id)
  const built = items.map(f => f())
  const k = key ?? built.map(b => b.textContent).join('\n')
  if (e.dataset.key === k) return
  e.dataset.key = k
  e.replaceChildren(...built)
}

function renderUplink(d: Doc, now: number): void {
  const u = d.uplink
  const link = u.link ?? (u.state === 'paused' ? 'connected' : u.state)
  const pill = $('uplink-state')
  pill.className = `pill ${u.state}`
  text('uplink-state', STATE_WORDS[u.state] ?? u.state)
  let explain = STATE_EXPLAIN[u.state] ?? ''
  if (u.state === 'paused' && link !== 'connected')
    explain += ` Kafka is also ${link === 'down' ? 'unreachable' : 'unreliable'} right now.`
  text('uplink-explain', explain)
  const outage = u.outageSince ?? null
  text(
    'uplink-outage',
    u.state === 'unconfigured'
      ? ''
      : outage !== null
        ? u.lastDeliveredAt == null
          ? `Nothing delivered since the gateway started at ${clock(outage)} (${dur((now - Date.parse(outage)) / 1000)})`
          : `Nothing delivered since ${clock(outage)} — ${dur((now - Date.parse(outage)) / 1000)}`
        : u.lastDeliveredAt != null
          ? `Last delivery ${when(u.lastDeliveredAt, now)}${u.state === 'paused' ? `; paused since ${clock(u.since)}` : ''}`
          : `Since ${clock(u.since)} (${ago(u.since, now)})`
  )
  $('uplink-outage').className = `small outage ${outage !== null ? link : ''}`
  // The cause in words while the link fails (also while paused); the raw error behind "details".
  const failing = link !== 'connected' && link !== 'unconfigured' && u.lastError !== null
  text('uplink-cause', failing ? (u.cause ?? u.lastError ?? '') : '')
  show('uplink-cause', failing)
  text('uplink-raw', failing ? (u.lastError ?? '') : '')
  show('uplink-raw-box', failing && u.cause != null && u.cause !== u.lastError)
  show('btn-pause', u.state !== 'paused')
  show('btn-resume', u.state === 'paused')
  // Without an uplink there is nothing to drain or pause; the test button still says why.
  for (const id of ['btn-drain', 'btn-pause', 'btn-resume']) {
    const b = $<HTMLButtonElement>(id)
    b.disabled = u.state === 'unconfigured' || document.body.classList.contains('stale')
    b.title = u.state === 'unconfigured' ? 'no uplink configured (kafka.brokers is empty)' : ''
  }
  replaceIfChanged(
    'uplink-history',
    d.uplinkHistory.slice(0, 12).map(h => () => {
      const li = el('li', '')
      li.append(el('time', clock(h.at)), el('span', STATE_WORDS[h.state] ?? h.state, `pill ${h.state}`))
      if (h.reason !== null && h.reason !== '') li.append(' ', el('span', h.reason, 'muted'))
      if ((h.times ?? 1) > 1 && h.lastAt !== undefined)
        li.append(' ', el('span', `×${h.times}, last ${clock(h.lastAt)}`, 'muted'))
      return li
    })
  )
}

function renderBacklog(d: Doc): void {
  const b = d.backlog
  const budget = d.disk?.budgetBytes ?? d.store.maxBytes
  text('backlog-readings', num(b.readings))
  text('backlog-bytes', bytes(b.bytes))
  const share = budget > 0 ? b.bytes / budget : 0
  text('backlog-share', `(${(share * 100).toFixed(share < 0.1 ? 2 : 0)}% of ${bytes(budget)} budget)`)
  text('backlog-age', b.readings === 0 ? '–' : dur(b.oldestAgeS))
  const net = d.rates.ingestPerS - d.rates.forwardPerS
  text(
    'backlog-net',
    `${net > 0 ? '+' : ''}${rate(net)} readings/s${net > 0 ? ' (growing)' : net < 0 ? ' (shrinking)' : ''}`
  )
  const disk = d.disk
  const full = disk?.fullInS ?? null
  text(
    'backlog-full',
    disk === undefined
      ? '–'
      : full === null
        ? 'not growing'
        : `${dur(full)}${disk.fullAt !== null ? ` (at ${clock(disk.fullAt)})` : ''}`
  )
  $('backlog-full').className = full !== null && full < 2 * 3600 ? 'alert' : ''
  text('backlog-then', disk === undefined ? '' : `When full: ${disk.whenFull}.`)
  show('backlog-then', disk !== undefined && (full !== null || share >= 0.8))
  text('backlog-rate', `${rate(d.uplink.drainRate)} readings/s`)
  text('backlog-eta', eta(d))
  const bar = $('backlog-bar')
  bar.style.width = `${Math.min(100, Math.max(share * 100, b.readings > 0 ? 1 : 0))}%`
  bar.className = share >= 0.95 ? 'crit' : share >= 0.8 ? 'warn' : ''
}

function renderFigures(d: Doc): void {
  const c = d.counters
  text('agg-rollups', num(c.rollups ?? 0))
  text('agg-rollups-fwd', num(c.forwardedRollups ?? 0))
  text('agg-late', num(c.lateReadings ?? 0))
  text('agg-compacted', num(c.compacted ?? 0))
  const f = d.figures
  text('agg-windows', f === undefined ? '–' : num(f.openWindows))
  replaceIfChanged(
    'budget-periods',
    f === undefined || f.periods.length === 0
      ? [() => el('li', 'No uplink budget set (budget.bytesPerDay / bytesPerHour): everything is sent.', 'muted')]
      : f.periods.map(
          p => () =>
            el(
              'li',
              `per ${p.period}: ${bytes(p.usedBytes)} of ${bytes(p.budgetBytes)} used (${Math.round(p.share * 100)}%), ${bytes(p.projectedBytes)} projected by its end`
            )
        )
  )
  replaceIfChanged(
    'budget-classes',
    (f?.classes ?? []).map(cl => () => {
      const li = el('li', '')
      li.append(el('strong', cl.name), ` (priority ${cl.priority}): `)
      li.append(
        el(
          'span',
          cl.state === 'normal'
            ? 'sent normally'
            : cl.state === 'held'
              ? `held by the budget — ${num(cl.heldReadings)} readings waiting`
              : `rollups only — ${num(cl.heldReadings)} raw readings held`,
          cl.state === 'normal' ? '' : 'alert'
        )
      )
      return li
    })
  )
}

function renderLog(d: Doc): void {
  replaceIfChanged(
    'log',
    d.recentProblems.length === 0
      ? [() => el('li', 'Nothing since start.', 'muted')]
      : collapse(d.recentProblems).map(({ line: l, times }) => () => {
          const li = el('li', '')
          li.append(el('time', clock(l.time)), el('span', l.level, `lvl ${l.level}`))
          if (l.code !== undefined) li.append(el('code', l.code), ' ')
          li.append(l.msg)
          const detail = errText(l.err)
          if (detail !== '') li.append(' ', el('span', detail, 'muted'))
          if (times > 1) li.append(' ', el('strong', `×${times}`))
          return li
        })
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
  if (d.uplink.state === 'unconfigured') return 'never (no uplink)'
  if (d.uplink.state === 'paused') return 'not draining: forwarding paused'
  if (d.uplink.etaS !== null) return dur(d.uplink.etaS)
  const link = d.uplink.link ?? d.uplink.state
  return link === 'connected' ? 'unknown (not draining yet)' : `not draining: uplink ${link}`
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
  const own = d.process
  text(
    'host-own',
    own === undefined ? '–' : `${own.cpuPct === null ? '–' : `${own.cpuPct}%`} CPU · ${bytes(own.rssBytes)} memory`
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
  replaceIfChanged(
    'host-net',
    h.network
      .filter(n => !n.internal)
      .concat(h.network.filter(n => n.internal))
      .map(
        n => () =>
          el(
            'li',
            `${n.iface} ${n.state !== 'up' && n.state !== 'unknown' ? `(${n.state}) ` : ''}${[n.ip4, n.ip6].filter(x => x !== '').join(' · ')}${n.speedMbps !== null && n.speedMbps > 0 ? ` · ${n.speedMbps} Mb/s` : ''}`,
            n.internal ? 'muted' : undefined
          )
      )
  )
}
