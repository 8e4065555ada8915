/**
 * GET /metrics: a prom-client registry whose figures are read from the live counters at
 * scrape time (the hot path only bumps plain integers). Per-device series are bounded:
 * the first `maxDevices` devices seen get their own `device` label, the rest are summed
 * under device="_other" (not a valid device id, so it cannot collide).
 */
import { readFileSync } from 'node:fs'
import { Counter, Gauge, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client'
import { DROP_REASONS, type Counters } from './counters.js'
import { add, toRow, type DeviceRow } from './device-rows.js'
import type { HostFacts } from './host.js'
import { loopDelaySeconds, watchLoopDelay } from './loop-delay.js'
import type { BudgetFigures } from './budget-figures.js'

export interface MetricsSources {
  gatewayId: string
  version: string
  counters: Counters
  buffer: {
    usage: {
      usageTotal: () => { readings: number; bytes: number }
      usageOf: (device: string) => { readings: number; bytes: number }
      oldestRecvMs: () => number | null
    }
    writer: {
      totals: { committed: number; commits: number; commitErrors: number; offThread: number }
      /** The commit worker's WAL fdatasyncs (count, seconds in all, the longest); null without one. */
      walSyncs?: () => { count: number; seconds: number; maxSeconds: number } | null
    }
  }
  uplink: () => { state: string; drainRate: number; etaS: number | null }
  /** The forwarder's produce requests read so far and its read workers running (absent: not reported). */
  forward?: () => { requestsRead: number; readWorkers: number }
  mqtt: () => { listening: boolean; connections: number }
  /** The admission step's per-device quota object, when quotas are there. */
  quotaOf?: (device: string) => unknown
  host: () => Readonly<HostFacts>
  /** Aggregation, priority classes and uplink budget (see budget-figures.ts). */
  budget?: () => BudgetFigures
  /** Status-page figures: live sessions, failed logins. */
  web: () => { sessions: number; loginFailures: number }
  maxDevices: number
}

export const UPLINK_STATES = ['unconfigured', 'connected', 'degraded', 'down', 'paused'] as const
export const OTHER_DEVICES = '_other'
export const CLASS_STATES = ['normal', 'rollups-only', 'held'] as const

type Sample = [LabelValues<string>, number]
type Read = () => number | Sample[]

/** Bytes written to storage by this process so far; null where /proc/self/io is unavailable. */
function diskWriteBytes(): number | null {
  try {
    const m = /write_bytes:\s+(\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))
    return m === null ? null : Number(m[1])
  } catch {
    return null
  }
}

export class GatewayMetrics {
  readonly registry = new Registry()
  private deviceCache: { at: number; rows: DeviceRow[] } = { at: -1, rows: [] }

  constructor(private readonly s: MetricsSources) {
    const r = this.registry
    collectDefaultMetrics({ register: r })
    watchLoopDelay()
    const c = s.counters
    const counter = (name: string, help: string, read: Read, labelNames: string[] = []): void => {
      // eslint-disable-next-line no-new
      new Counter({
        name,
        help,
        labelNames,
        registers: [r],
        collect() {
          fill(this, read())
        }
      })
    }
    const gauge = (
      name: string,
      help: string,
      read: () => number | null | Sample[],
      labelNames: string[] = []
    ): void => {
      // eslint-disable-next-line no-new
      new Gauge({
        name,
        help,
        labelNames,
        registers: [r],
        collect() {
          fill(this, read())
        }
      })
    }

    gauge('holdfast_info', 'Gateway identity; always 1', () => [[{ gateway_id: s.gatewayId, version: s.version }, 1]], [
      'gateway_id',
      'version'
    ])
    counter(
      'holdfast_readings_received_total',
      'Readings received from devices (publishes under devices/<id>/...)',
      () => c.received
    )
    counter('holdfast_readings_stored_total', 'Readings committed to the buffer', () => c.stored)
    counter(
      'holdfast_readings_forwarded_total',
      'Readings acknowledged by the uplink and released from the buffer',
      () => c.forwarded
    )
    counter(
      'holdfast_readings_duplicate_total',
      'Re-sent readings recognised and acknowledged without a second copy',
      () => c.duplicates
    )
    counter(
      'holdfast_readings_dropped_total',
      'Readings refused or discarded, by reason',
      () => DROP_REASONS.map(reason => [{ reason }, c.dropped[reason]]),
      ['reason']
    )
    counter('holdfast_mqtt_auth_failures_total', 'Device logins refused', () => c.authFailures)
    counter(
      'holdfast_mqtt_refused_total',
      'Connections, logins and subscriptions refused, by reason',
      () => {
        const refused = (c as { refused?: Record<string, number> }).refused ?? {}
        return Object.entries(refused).map(([reason, n]) => [{ reason }, n])
      },
      ['reason']
    )
    gauge('holdfast_mqtt_connections', 'Connected MQTT clients', () => s.mqtt().connections)
    gauge('holdfast_mqtt_listening', '1 while the MQTT listener accepts connections', () =>
      s.mqtt().listening ? 1 : 0
    )

    counter('holdfast_buffer_commits_total', 'Group commits of the buffer', () => s.buffer.writer.totals.commits)
    counter(
      'holdfast_buffer_commits_off_thread_total',
      "Group commits that ran on the commit worker (plain inserts), not on the broker's thread",
      () => s.buffer.writer.totals.offThread
    )
    // Every PUBACK waits for a WAL sync (store.synchronous = full): a slow SD card shows here first.
    const syncs = () => s.buffer.writer.walSyncs?.() ?? null
    counter(
      'holdfast_buffer_wal_syncs_total',
      "WAL fdatasyncs by the commit worker; each covers every group committed before it began, and the groups' PUBACKs wait for it",
      () => syncs()?.count ?? []
    )
    counter(
      'holdfast_buffer_wal_sync_seconds_total',
      'Time those WAL fdatasyncs took, each from its start to its completion seen by the worker (a wait for a thread-pool thread included); divided by holdfast_buffer_wal_syncs_total, the mean',
      () => syncs()?.seconds ?? []
    )
    gauge(
      'holdfast_buffer_wal_sync_max_seconds',
      'The longest of those WAL fdatasyncs since start',
      () => syncs()?.maxSeconds ?? []
    )
    gauge(
      'holdfast_event_loop_delay_seconds',
      "Event-loop delay of the broker's thread since start, by quantile (1 = the largest): how long anything ran between two PUBACKs",
      () => loopDelaySeconds().map(([q, v]) => [{ quantile: String(q) }, v] as Sample),
      ['quantile']
    )
    counter(
      'holdfast_store_disk_write_bytes_total',
      'Bytes this process caused to be written to storage (/proc/self/io write_bytes: SQLite WAL, checkpoints, logs); divide by stored readings for write amplification',
      () => diskWriteBytes() ?? []
    )
    counter('holdfast_buffer_commit_errors_total', 'Failed buffer commits', () => s.buffer.writer.totals.commitErrors)
    gauge(
      'holdfast_backlog_readings',
      'Readings buffered, waiting for the uplink',
      () => s.buffer.usage.usageTotal().readings
    )
    gauge('holdfast_backlog_bytes', 'Disk bytes used by buffered readings', () => s.buffer.usage.usageTotal().bytes)
    gauge('holdfast_backlog_oldest_age_seconds', 'Age of the oldest buffered reading (0 when empty)', () => {
      const oldest = s.buffer.usage.oldestRecvMs()
      return oldest === null ? 0 : Math.max(0, (Date.now() - oldest) / 1000)
    })

    gauge(
      'holdfast_uplink_state',
      'Uplink state: 1 for the current one',
      () => {
        const now = s.uplink().state
        return UPLINK_STATES.map(state => [{ state }, state === now ? 1 : 0])
      },
      ['state']
    )
    gauge(
      'holdfast_uplink_drain_readings_per_second',
      'Readings acknowledged by the uplink per second, last 10 s',
      () => s.uplink().drainRate
    )
    gauge(
      'holdfast_uplink_eta_seconds',
      'Estimated seconds until the backlog is empty (absent when unknown)',
      () => s.uplink().etaS
    )
    counter(
      'holdfast_uplink_requests_read_total',
      'Produce requests read from the buffer and encoded; none while the uplink is down (a probe comes first)',
      () => s.forward?.().requestsRead ?? []
    )
    gauge(
      'holdfast_uplink_read_workers',
      "The forwarder's read workers running: 2 while the uplink takes requests; 0 while it is down, or after 10 s with nothing to read",
      () => s.forward?.().readWorkers ?? []
    )

    counter('holdfast_rollups_total', 'Rollup records made by closing aggregation windows', () => c.rollups)
    counter('holdfast_rollups_forwarded_total', 'Rollup records acknowledged by the uplink', () => c.forwardedRollups)
    counter(
      'holdfast_rollup_late_readings_total',
      'Readings that arrived after their window closed (went into a late rollup)',
      () => c.lateReadings
    )
    counter(
      'holdfast_compacted_readings_total',
      'Raw readings compacted into rollups under disk pressure (replaced, not dropped)',
      () => c.compacted
    )
    const figures = (): BudgetFigures | null => s.budget?.() ?? null
    gauge('holdfast_aggregate_open_windows', 'Aggregation windows open now', () => figures()?.openWindows ?? null)
    gauge(
      'holdfast_backlog_lane_readings',
      'Readings buffered, per priority and kind (raw or rollup)',
      () => (figures()?.lanes ?? []).map(l => [{ priority: String(l.priority), kind: l.kind }, l.readings]),
      ['priority', 'kind']
    )
    gauge(
      'holdfast_priority_class_state',
      'What the uplink budget does to each priority class: 1 for the current state',
      () =>
        (figures()?.classes ?? []).flatMap(cl =>
          CLASS_STATES.map((state): Sample => [{ class: cl.name, state }, cl.state === state ? 1 : 0])
        ),
      ['class', 'state']
    )
    gauge(
      'holdfast_budget_held_readings',
      'Readings the uplink budget keeps back now, per priority class (held classes, and the raw readings of rollups-only ones)',
      () => (figures()?.classes ?? []).map(cl => [{ class: cl.name }, cl.heldReadings]),
      ['class']
    )
    gauge(
      'holdfast_uplink_budget_bytes',
      'Uplink budget per period (absent without a budget)',
      () => (figures()?.periods ?? []).map(p => [{ period: p.period }, p.budgetBytes]),
      ['period']
    )
    gauge(
      'holdfast_uplink_budget_used_bytes',
      'Uplink bytes used in the current period',
      () => (figures()?.periods ?? []).map(p => [{ period: p.period }, p.usedBytes]),
      ['period']
    )
    gauge(
      'holdfast_uplink_budget_projected_bytes',
      'Uplink bytes the current period will have used at its end, at the rate so far',
      () => (figures()?.periods ?? []).map(p => [{ period: p.period }, p.projectedBytes]),
      ['period']
    )

    const perDevice = (name: string, help: string, pick: (d: DeviceRow) => number, kind: 'counter' | 'gauge'): void => {
      const read = (): Sample[] => this.devices().map(d => [{ device: d.id }, pick(d)])
      if (kind === 'counter') counter(name, help, read, ['device'])
      else gauge(name, help, read, ['device'])
    }
    perDevice('holdfast_device_received_total', 'Readings received, per device', d => d.received, 'counter')
    perDevice('holdfast_device_stored_total', 'Readings stored, per device', d => d.stored, 'counter')
    perDevice('holdfast_device_forwarded_total', 'Readings forwarded, per device', d => d.forwarded, 'counter')
    perDevice('holdfast_device_auth_failures_total', 'Refused logins, per device', d => d.authFailures, 'counter')
    perDevice(
      'holdfast_device_denials_total',
      'Publishes or subscriptions denied (ACL, quota), per device',
      d => d.denials,
      'counter'
    )
    perDevice('holdfast_device_buffered_readings', 'Readings buffered, per device', d => d.buffered, 'gauge')
    perDevice('holdfast_device_buffered_bytes', 'Disk bytes buffered, per device', d => d.bufferedBytes, 'gauge')
    perDevice('holdfast_device_connected', 'Open MQTT connections, per device', d => d.connections, 'gauge')
    perDevice(
      'holdfast_device_throttled_publishes_total',
      'Publishes held back by the rate quota, per device',
      d => d.throttled,
      'counter'
    )
    perDevice(
      'holdfast_device_held_publishes',
      'Publishes waiting for rate quota now, per device',
      d => d.held,
      'gauge'
    )
    gauge(
      'holdfast_device_quota_storage_ratio',
      "Share of the device's storage quota in use (devices with a cap)",
      () =>
        this.devices()
          .filter(d => d.quotaShare !== null)
          .map(d => [{ device: d.id }, d.quotaShare!]),
      ['device']
    )
    counter(
      'holdfast_device_dropped_total',
      'Readings dropped, per device and reason (reasons that occurred)',
      () => {
        const out: Sample[] = []
        for (const d of this.devices())
          for (const [reason, n] of Object.entries(d.dropped)) out.push([{ device: d.id, reason }, n])
        return out
      },
      ['device', 'reason']
    )
    counter(
      'holdfast_device_refused_total',
      'Refusals concerning a device (connections, sessions, messages to it), per device and reason (reasons that occurred)',
      () =>
        this.devices().flatMap(d =>
          Object.entries(d.refused).map(([reason, n]): Sample => [{ device: d.id, reason }, n])
        ),
      ['device', 'reason']
    )
    gauge(
      'holdfast_metrics_devices_other',
      'Devices summed under device="_other" (beyond status.metricsMaxDevices)',
      () => Math.max(0, c.devices.size - s.maxDevices)
    )

    gauge('holdfast_host_cpu_load_ratio', 'Host CPU load, 0-1 (systeminformation)', () => ratio(s.host().cpuLoadPct))
    gauge('holdfast_host_memory_total_bytes', 'Host memory', () => s.host().memTotalBytes)
    gauge('holdfast_host_memory_available_bytes', 'Host memory available', () => s.host().memAvailableBytes)
    gauge(
      'holdfast_host_data_volume_size_bytes',
      'Size of the volume holding the data directory',
      () => s.host().disk?.sizeBytes ?? null
    )
    gauge(
      'holdfast_host_data_volume_free_bytes',
      'Free bytes on the volume holding the data directory',
      () => s.host().disk?.freeBytes ?? null
    )
    gauge(
      'holdfast_host_temperature_celsius',
      'Board temperature, where the board reports one',
      () => s.host().temperatureC
    )
    gauge('holdfast_status_sessions', 'Live technician sessions', () => s.web().sessions)
    counter(
      'holdfast_status_login_failures_total',
      'Wrong technician passwords and refused (rate-limited) logins',
      () => s.web().loginFailures
    )
  }

  async text(): Promise<string> {
    // prom-client writes NaN as "Nan" (its event-loop lag gauges are NaN when two scrapes come within
    // one sampling interval); the text format spells it NaN.
    return (await this.registry.metrics()).replace(/ Nan$/gm, ' NaN')
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** The bounded per-device view; computed once per scrape (all per-device families share it). */
  private devices(): DeviceRow[] {
    const now = Date.now()
    if (now - this.deviceCache.at < 50) return this.deviceCache.rows
    const rows: DeviceRow[] = []
    let other: DeviceRow | null = null
    let i = 0
    for (const d of this.s.counters.devices.values()) {
      const row = toRow(d, this.s.buffer.usage.usageOf(d.id), this.s.quotaOf?.(d.id))
      if (i++ < this.s.maxDevices) rows.push(row)
      else other = other === null ? { ...row, id: OTHER_DEVICES } : add(other, row)
    }
    if (other !== null) rows.push(other)
    this.deviceCache = { at: now, rows }
    return rows
  }
}

const ratio = (pct: number | null): number | null => (pct === null ? null : Math.round(pct * 10) / 1000)

/** Replace a metric's values with what was read now; null = no sample (the series is absent). */
function fill(m: Counter | Gauge, v: number | null | Sample[]): void {
  m.reset()
  if (v === null) {
    // reset() leaves a label-less metric at 0, which would read as "0 °C" or "empty in 0 s".
    // An unknown figure must be an absent series, so drop that default sample.
    ;(m as unknown as { hashMap: Record<string, unknown> }).hashMap = {}
    return
  }
  if (typeof v === 'number') {
    if (m instanceof Gauge) m.set(v)
    else m.inc(v)
    return
  }
  for (const [labels, n] of v) {
    if (m instanceof Gauge) m.set(labels, n)
    else m.inc(labels, n)
  }
}
