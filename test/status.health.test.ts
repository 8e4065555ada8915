import { test } from 'node:test'
import assert from 'node:assert/strict'
import { assess, type HealthInput } from '../src/status/health.js'
import type { HostFacts } from '../src/metrics/host.js'
import { Counters } from '../src/metrics/counters.js'
import { RateHistory } from '../src/metrics/history.js'

const NOW = Date.parse('2026-01-01T12:00:00Z')
const host: HostFacts = {
  sampledAt: null,
  hostname: 'gw',
  os: null,
  arch: 'arm64',
  cores: 4,
  cpuLoadPct: 20,
  loadAvg: [0.2, 0.2, 0.2],
  memTotalBytes: 1e9,
  memAvailableBytes: 6e8,
  memUsedPct: 40,
  disk: { path: '/data', mount: '/', fs: null, sizeBytes: 32e9, freeBytes: 20e9, usedPct: 37.5 },
  temperatureC: 51,
  uptimeS: 1000,
  network: []
}
const base: HealthInput = {
  mqttListening: true,
  bufferWritable: true,
  uplink: { state: 'connected', since: '2026-01-01T11:00:00Z', lastError: null, etaS: 0, drainRate: 10 },
  backlog: { readings: 0, bytes: 0, oldestAgeS: 0 },
  budgetBytes: 1e9,
  minFreeBytes: 64e6,
  devices: [{ id: 'a', connected: true, lastSeenS: 1 }],
  recentDrops: {},
  recentRefused: {},
  recentErrors: 0,
  host,
  nowMs: NOW
}

test('a healthy gateway says so', () => {
  assert.deepEqual(assess(base), { level: 'ok', problems: [] })
})

test('what is wrong comes first, in plain words', () => {
  const h = assess({
    ...base,
    uplink: { state: 'down', since: '2026-01-01T11:48:00Z', lastError: 'ECONNREFUSED', etaS: null, drainRate: 0 },
    backlog: { readings: 120_000, bytes: 900e6, oldestAgeS: 720 },
    devices: [
      { id: 'a', connected: true, lastSeenS: 1 },
      { id: 'b', connected: false, lastSeenS: 300 },
      { id: 'c', connected: false, lastSeenS: 30 }
    ],
    recentDrops: { payload_too_large: 3 },
    recentRefused: { bad_credentials: 7 },
    host: { ...host, disk: { ...host.disk!, freeBytes: 10e6, usedPct: 99.9 }, temperatureC: 85 }
  })
  assert.equal(h.level, 'crit')
  const texts = h.problems.map(p => p.text)
  assert.equal(h.problems[0]!.level, 'crit')
  assert.ok(texts.includes('Uplink down for 12 min: ECONNREFUSED'), texts.join('\n'))
  assert.ok(texts.includes('Buffer 90% of its disk budget'))
  assert.ok(texts.includes('120,000 readings waiting, oldest 12 min old'))
  assert.ok(texts.includes('1 device offline for over a minute: b'))
  assert.ok(texts.includes('3 readings dropped in the last minute (payload over its size limit: 3)'))
  assert.ok(texts.includes('7 connections or logins refused in the last minute (wrong secret: 7)'))
  assert.ok(texts.some(t => t.startsWith('Data volume almost full')))
  assert.ok(texts.includes('Board at 85 °C'))
  // Worst first: every crit before any warn.
  const levels = h.problems.map(p => p.level)
  assert.deepEqual(
    levels,
    [...levels].sort((a, b) => (a === b ? 0 : a === 'crit' ? -1 : 1))
  )
})

test('a paused or missing uplink is a warning, a dead listener or buffer is critical', () => {
  assert.equal(assess({ ...base, uplink: { ...base.uplink, state: 'paused' } }).level, 'warn')
  assert.match(
    assess({ ...base, uplink: { ...base.uplink, state: 'unconfigured' } }).problems[0]!.text,
    /No uplink configured/
  )
  assert.equal(assess({ ...base, mqttListening: false }).level, 'crit')
  assert.equal(assess({ ...base, bufferWritable: false }).level, 'crit')
})

test('every verdict carries a short code for machines (the remote heartbeat, fleet status)', () => {
  const h = assess({
    ...base,
    mqttListening: false,
    uplink: { state: 'degraded', since: '2026-01-01T11:58:00Z', lastError: 'timeout', etaS: null, drainRate: 0 },
    backlog: { readings: 10, bytes: 960e6, oldestAgeS: 400 },
    recentDrops: { quota: 2 },
    recentErrors: 1
  })
  assert.deepEqual(h.problems.map(p => p.code).sort(), [
    'backlog_full',
    'backlog_old',
    'errors_logged',
    'mqtt_down',
    'readings_dropped',
    'uplink_degraded'
  ])
  for (const p of h.problems) assert.match(p.code, /^[a-z]+(_[a-z]+)*$/)
})

test('dropped readings are named by device, most first; those of apps and anonymous clients are said to be theirs', () => {
  const counters = new Counters()
  counters.drop('sensor-old', 'payload_too_large', 50)
  const history = new RateHistory(counters, () => 0)
  counters.drop('sensor-7', 'payload_too_large', 10)
  counters.drop('sensor-9', 'payload_too_large', 2)
  counters.drop('sensor-9', 'acl_denied', 1)
  counters.drop('sensor-3', 'quota_drop_oldest', 5)
  counters.drop(null, 'acl_denied', 3)
  history.sample()
  const verdict = (): ReturnType<typeof assess> =>
    assess({
      ...base,
      recentDrops: history.dropsWithin(60_000),
      recentDroppers: history.droppersWithin(60_000)
    })
  const p = verdict().problems.find(x => x.code === 'readings_dropped')!
  assert.equal(
    p.text,
    "21 readings dropped in the last minute (payload over its size limit: 12, oldest dropped for a device's storage quota: 5, outside its own topics: 4; 3 of them from apps or anonymous clients), by device: sensor-7, sensor-3, sensor-9"
  )
  assert.deepEqual(p.devices, ['sensor-7', 'sensor-3', 'sensor-9'], 'sensor-old dropped before this minute')

  // A step later sensor-9 drops more: its drops of the minute add up.
  counters.drop('sensor-9', 'payload_too_large', 4)
  history.sample()
  assert.deepEqual(history.droppersWithin(60_000), [
    { device: 'sensor-7', count: 10 },
    { device: 'sensor-9', count: 7 },
    { device: 'sensor-3', count: 5 }
  ])
  const onlyApps = assess({
    ...base,
    recentDrops: { acl_denied: 3 },
    recentDroppers: []
  }).problems.find(x => x.code === 'readings_dropped')!
  assert.equal(
    onlyApps.text,
    '3 readings dropped in the last minute (outside its own topics: 3; from apps or anonymous clients, not devices)'
  )
  assert.equal(onlyApps.devices, undefined)
})
