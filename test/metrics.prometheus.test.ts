import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { parsePrometheusText, valueOf, type Family } from './harness/prometheus.js'

test('the strict Prometheus parser refuses malformed expositions', () => {
  const ok =
    '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 2\na_total{x="2"} 3\n\n# TYPE b gauge\nb 1.5e3\n'
  const f = parsePrometheusText(ok)
  assert.equal(valueOf(f, 'a_total', { x: '2' }), 3)
  assert.equal(valueOf(f, 'b'), 1500)
  for (const bad of [
    'a 1', // no final newline
    'a{x="1} 1\n', // unterminated label
    'a{x="1"}1\n', // no space
    'a 1 2 3\n',
    '# TYPE a counter\na -1\n', // negative counter
    '# TYPE a gauge\na 1\na 2\n', // duplicate series
    '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n', // family not contiguous
    '# TYPE a gauge\n# TYPE a gauge\n',
    '# TYPE a frobnicator\n',
    'a{__name__="x"} 1\n',
    'a{x="\\q"} 1\n',
    '1a 1\n',
    'a abc\n'
  ]) {
    assert.throws(() => parsePrometheusText(bad), Error, JSON.stringify(bad))
  }
})

async function publishSome(gw: GatewayProcess, id: string, n: number): Promise<void> {
  const c = await mqtt.connectAsync(gw.url, { clientId: id })
  for (let i = 0; i < n; i++)
    await c.publishAsync(`devices/${id}/telemetry`, JSON.stringify({ ts: Date.now(), n: i }), { qos: 1 })
  await c.endAsync()
}

async function until(what: string, cond: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await cond()) return
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  assert.fail(`timed out waiting for ${what}`)
}

test('/metrics is valid Prometheus text and agrees with /api/status; device labels are bounded', async () => {
  const gw = await GatewayProcess.start({
    args: [
      '--status-metrics-max-devices',
      '3',
      '--mqtt-max-payload-bytes',
      '256',
      '--quota-max-buffered-readings',
      '100'
    ]
  })
  try {
    // Sequential, so the order devices are first seen (which decides who gets a label) is known.
    const counts = [7, 3, 5, 2, 4]
    for (const [i, n] of counts.entries()) await publishSome(gw, `dev-${i}`, n)
    // One oversized reading: refused, counted by reason, the connection closed.
    const big = await mqtt.connectAsync(gw.url, { clientId: 'dev-1', reconnectPeriod: 0 })
    big.publish('devices/dev-1/telemetry', Buffer.alloc(1000, 120), { qos: 0 })
    await until('the drop to be counted', async () => (await gw.status()).counters.dropped.payload_too_large === 1)
    big.end(true)
    await until('clients to be gone', async () => (await gw.status()).mqtt.connections === 0)

    const res = await fetch(`${gw.http}/metrics`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
    const families = parsePrometheusText(await res.text())
    // Scrapes one right after another find prom-client's event-loop histogram just reset, with no sample:
    // its gauges are NaN then, which the text format spells NaN.
    for (let i = 0; i < 5; i++) parsePrometheusText(await (await fetch(`${gw.http}/metrics`)).text())
    const s = await gw.status()
    const v = (name: string, labels: Record<string, string> = {}): number | undefined => valueOf(families, name, labels)
    const type = (name: string): string | undefined => (families.get(name) as Family | undefined)?.type

    assert.equal(type('holdfast_readings_received_total'), 'counter')
    assert.equal(type('holdfast_backlog_readings'), 'gauge')
    assert.equal(v('holdfast_info', { gateway_id: 'test-gw', version: s.version }), 1)
    assert.equal(v('holdfast_readings_received_total'), s.counters.received)
    assert.equal(v('holdfast_readings_stored_total'), s.counters.stored)
    assert.equal(v('holdfast_readings_forwarded_total'), s.counters.forwarded)
    assert.equal(v('holdfast_readings_duplicate_total'), s.counters.duplicates)
    assert.equal(s.counters.stored, 21)
    for (const [reason, n] of Object.entries(s.counters.dropped))
      assert.equal(v('holdfast_readings_dropped_total', { reason }), n, `dropped ${reason}`)
    assert.equal(v('holdfast_readings_dropped_total', { reason: 'payload_too_large' }), 1)
    assert.equal(v('holdfast_backlog_readings'), s.backlog.readings)
    assert.equal(v('holdfast_backlog_bytes'), s.backlog.bytes)
    assert.ok(Math.abs(v('holdfast_backlog_oldest_age_seconds')! - s.backlog.oldestAgeS) < 2)
    // Every stored reading waited for a WAL sync by the commit worker (store.synchronous = full): at least
    // one sync, never more than one per commit, and time spent in them.
    const syncs = v('holdfast_buffer_wal_syncs_total')!
    assert.equal(type('holdfast_buffer_wal_syncs_total'), 'counter')
    assert.ok(syncs >= 1 && syncs <= v('holdfast_buffer_commits_total')!, `${syncs} syncs`)
    assert.ok(v('holdfast_buffer_wal_sync_seconds_total')! > 0)
    assert.ok(v('holdfast_buffer_wal_sync_max_seconds')! > 0)
    assert.ok(v('holdfast_buffer_wal_sync_max_seconds')! <= v('holdfast_buffer_wal_sync_seconds_total')!)
    assert.equal(v('holdfast_mqtt_connections'), s.mqtt.connections)
    assert.equal(v('holdfast_mqtt_listening'), 1)
    for (const state of ['unconfigured', 'connected', 'degraded', 'down', 'paused']) {
      assert.equal(v('holdfast_uplink_state', { state }), state === s.uplink.state ? 1 : 0, `uplink ${state}`)
    }
    assert.equal(v('holdfast_uplink_drain_readings_per_second'), s.uplink.drainRate)
    if (s.uplink.etaS === null)
      assert.equal(v('holdfast_uplink_eta_seconds'), undefined, 'an unknown ETA is an absent series, not 0')
    if (s.host.temperatureC === null) assert.equal(v('holdfast_host_temperature_celsius'), undefined)

    // Per device: the first three seen have their own label, the others are summed as _other.
    const byId = new Map<string, any>(s.devices.map((d: any) => [d.id, d]))
    for (const id of ['dev-0', 'dev-1', 'dev-2']) {
      assert.equal(v('holdfast_device_received_total', { device: id }), byId.get(id).received, id)
      assert.equal(v('holdfast_device_stored_total', { device: id }), byId.get(id).stored, id)
      assert.equal(v('holdfast_device_buffered_readings', { device: id }), byId.get(id).buffered, id)
    }
    assert.equal(v('holdfast_device_received_total', { device: 'dev-3' }), undefined)
    assert.equal(
      v('holdfast_device_received_total', { device: '_other' }),
      byId.get('dev-3').received + byId.get('dev-4').received
    )
    assert.equal(v('holdfast_device_dropped_total', { device: 'dev-1', reason: 'payload_too_large' }), 1)
    assert.equal(v('holdfast_metrics_devices_other'), 2)
    for (const [reason, n] of Object.entries(s.counters.refused ?? {}))
      assert.equal(v('holdfast_mqtt_refused_total', { reason }), n, `refused ${reason}`)
    // Quotas: every device may buffer 100 readings, so dev-0 (7 buffered) uses 7% of its share.
    assert.equal(v('holdfast_device_quota_storage_ratio', { device: 'dev-0' }), 0.07)
    assert.equal(
      v('holdfast_device_throttled_publishes_total', { device: 'dev-0' }),
      byId.get('dev-0').quota?.usage?.throttledPublishes ?? 0
    )
    const perDevice = families.get('holdfast_device_received_total')!.samples
    assert.equal(perDevice.length, 4, 'three devices and _other')
    assert.equal(
      perDevice.reduce((a, x) => a + x.value, 0),
      s.counters.received,
      'per-device series add up to the total'
    )

    // Process and host metrics are there too.
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'holdfast_host_memory_total_bytes',
      'holdfast_event_loop_delay_seconds',
      // Aggregation, priorities and the uplink budget, not only in /api/status.
      'holdfast_rollups_total',
      'holdfast_compacted_readings_total',
      'holdfast_priority_class_state',
      'holdfast_budget_held_readings',
      'holdfast_backlog_lane_readings'
    ]) {
      assert.ok(families.has(name), name)
    }
  } finally {
    await gw.stop()
  }
})

test('/metrics needs a login or the bearer token when the status view is not public', async () => {
  const token = 'scrape-token-0123456789'
  const gw = await GatewayProcess.start({ statusPublic: false, args: ['--status-metrics-token', token] })
  try {
    const none = await fetch(`${gw.http}/metrics`)
    assert.equal(none.status, 401)
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/)
    assert.equal((await none.json()).code, 'HF_ERR_LOGIN_REQUIRED')
    assert.equal((await fetch(`${gw.http}/metrics`, { headers: { authorization: `Bearer ${token}x` } })).status, 401)
    assert.equal((await fetch(`${gw.http}/metrics`, { headers: { authorization: token } })).status, 401)
    const ok = await fetch(`${gw.http}/metrics`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(ok.status, 200)
    assert.ok(parsePrometheusText(await ok.text()).has('holdfast_readings_received_total'))
    // The token opens /metrics only, not the status API.
    assert.equal((await fetch(`${gw.http}/api/status`, { headers: { authorization: `Bearer ${token}` } })).status, 401)
    // Probes stay open.
    assert.equal((await fetch(`${gw.http}/healthz`)).status, 200)
    assert.equal((await fetch(`${gw.http}/readyz`)).status, 200)
  } finally {
    await gw.stop()
  }
})
