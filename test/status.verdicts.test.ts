/**
 * The judgements behind the technician's page, without a browser: the outage clock runs from the
 * last delivery whatever a technician pauses; failures are named in words; host CPU and memory
 * verdicts say whose load it is and do not flicker; the disk-full outlook follows the inflow.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadConfig } from '../src/config/load.js'
import { Uplink } from '../src/forward/uplink.js'
import { uplinkCause } from '../src/forward/uplink-cause.js'
import type { HostFacts } from '../src/metrics/host.js'
import { diskOutlook } from '../src/status/disk-outlook.js'
import { assess } from '../src/status/health.js'
import { HostVerdicts } from '../src/status/host-verdict.js'

/** The inputs of a verdict with no devices, drops or errors. */
const quiet = { minFreeBytes: 0, devices: [], recentDrops: {}, recentRefused: {}, recentErrors: 0 }
const REFUSED = 'KafkaJSNumberOfRetriesExceeded: Connection error: connect ECONNREFUSED 10.0.0.5:9092'
const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

test('the outage runs from the last delivery; pause and resume neither hide nor restart it', async () => {
  const u = new Uplink(true, 60_000)
  u.succeeded(10)
  const delivered = u.lastSuccessMs
  await sleep(5)
  for (let i = 0; i < 3; i++) u.failed(REFUSED)
  assert.equal(u.state, 'down')
  assert.equal(u.outageSinceMs(), delivered)
  u.pause(true)
  assert.equal(u.state, 'paused')
  assert.equal(u.link, 'down', 'the link is still down underneath')
  assert.equal(u.outageSinceMs(), delivered)
  await sleep(5)
  u.pause(false)
  assert.equal(u.state, 'down')
  assert.equal(u.outageSinceMs(), delivered, 'resume does not restart the clock')
  assert.equal(u.since, delivered)
  const states = u.history.map(h => h.state)
  assert.deepEqual(states.slice(-4), ['degraded', 'down', 'paused', 'resumed'])
  assert.ok(!u.history.some(h => (h.state === 'down' || h.state === 'degraded') && /technician/.test(h.reason ?? '')))

  // A technician's test while paused: the link's answer is listed as such, not as a way out of the pause.
  const t = new Uplink(true, 60_000)
  t.succeeded(10)
  t.pause(true)
  for (let i = 0; i < 3; i++) t.failed(REFUSED)
  const after = t.history.slice(t.history.findIndex(h => h.state === 'paused') + 1)
  assert.ok(after.length > 0 && after.every(h => /^while paused: /.test(h.reason ?? '')), JSON.stringify(after))
})

test('start-up failures are recorded with their cause, repeats counted rather than repeated', () => {
  const u = new Uplink(true, 60_000)
  assert.equal(u.history.length, 1)
  assert.match(u.history[0]!.reason!, /connecting/)
  for (let i = 0; i < 5; i++) u.failed(REFUSED)
  const last = u.history[u.history.length - 1]!
  assert.equal(last.state, 'down')
  assert.match(last.reason!, /Kafka refused the connection at 10\.0\.0\.5:9092: check the address/)
  assert.equal(u.history.length, 2, 'one entry for the same cause, however often')
  assert.equal(last.times, 5)
  u.failed('KafkaJSConnectionError: Connection timeout')
  assert.equal(u.history.length, 3, 'a new cause in the same state is recorded')
  assert.match(u.history[2]!.reason!, /did not answer in time/)
  assert.equal(u.outageSinceMs(), u.startedMs, 'never delivered: the outage runs from start-up')
})

test('uplink errors in words, with the next step', () => {
  assert.equal(
    uplinkCause(REFUSED),
    'Kafka refused the connection at 10.0.0.5:9092: check the address (kafka.brokers) and that Kafka is running'
  )
  assert.match(uplinkCause('getaddrinfo ENOTFOUND kafka.plant.local')!, /kafka\.plant\.local could not be resolved/)
  assert.match(uplinkCause('KafkaJSSASLAuthenticationError: SASL PLAIN authentication failed')!, /credentials/)
  assert.match(uplinkCause('produce timed out after 2000 ms')!, /did not answer in time/)
  assert.equal(uplinkCause(null), null)
})

const host = (at: string, cpu: number, mem = 40): HostFacts => ({
  sampledAt: at,
  hostname: 'gw',
  os: null,
  arch: 'arm64',
  cores: 4,
  cpuLoadPct: cpu,
  loadAvg: null,
  memTotalBytes: 64e9,
  memAvailableBytes: 1e9,
  memUsedPct: mem,
  disk: null,
  temperatureC: null,
  uptimeS: null,
  network: []
})

test('host CPU and memory verdicts have hysteresis and say that the load is not Holdfast', () => {
  const v = new HostVerdicts(() => 4)
  const cpu = (at: string, pct: number): string[] =>
    v
      .problems(host(at, pct))
      .filter(p => /CPU/.test(p.text))
      .map(p => p.text)
  assert.deepEqual(cpu('1', 90), [], 'below the threshold')
  const on = cpu('2', 99)
  assert.equal(on.length, 1)
  assert.match(on[0]!, /Host CPU 99% busy, Holdfast only [\d.]+%: another program is using it/)
  assert.equal(cpu('3', 88).length, 1, 'stays on until it falls below the lower threshold')
  assert.equal(cpu('3', 10).length, 1, 'judged once per host sample, not per page update')
  assert.equal(cpu('4', 70).length, 0, 'off below the lower threshold')
  assert.equal(cpu('5', 94).length, 0, 'and stays off until the upper one')
  const mem = v.problems(host('6', 10, 95)).filter(p => /emory/.test(p.text))
  assert.match(mem[0]!.text, /Host memory 95% used, Holdfast only .*another program/)
})

test('the disk budget outlook follows the net inflow and says what happens when full', () => {
  const { config } = loadConfig({ flags: { 'store-max-bytes': String(100 * 1024 * 1024) }, env: {} })
  const o = diskOutlook(config, {
    backlog: { readings: 1000, bytes: 200_000 },
    ingestPerS: 60,
    forwardPerS: 10,
    diskFreeBytes: null,
    nowMs: Date.parse('2026-01-01T12:00:00Z')
  })
  assert.equal(o.netBytesPerS, 10_000)
  assert.equal(o.fullInS, Math.round((100 * 1024 * 1024 - 200_000) / 10_000))
  assert.match(o.whenFull, /drop-oldest lose their oldest buffered readings/)
  const draining = diskOutlook(config, {
    backlog: { readings: 1000, bytes: 200_000 },
    ingestPerS: 5,
    forwardPerS: 50,
    diskFreeBytes: null,
    nowMs: 0
  })
  assert.equal(draining.fullInS, null)
  // At the budget, the inflow is paid for by evictions: not "full in 0 s", and the verdict says what
  // the storage policies do now instead of "will soon be refused".
  const budget = 100 * 1024 * 1024
  const full = diskOutlook(config, {
    backlog: { readings: 500_000, bytes: budget - 1000 },
    ingestPerS: 60,
    forwardPerS: 0,
    diskFreeBytes: null,
    nowMs: 0
  })
  assert.deepEqual([full.atBudget, full.fullInS], [true, null])
  const h = assess({
    mqttListening: true,
    bufferWritable: true,
    uplink: { state: 'down', since: '2026-01-01T11:00:00Z', lastError: REFUSED, etaS: null, drainRate: 0 },
    backlog: { readings: 500_000, bytes: budget - 1000, oldestAgeS: 60 },
    budgetBytes: full.budgetBytes,
    ...quiet,
    host: host('1', 10),
    diskFull: { inS: full.fullInS, whenFull: full.whenFull },
    nowMs: Date.parse('2026-01-01T12:00:00Z')
  })
  assert.equal(h.problems.filter(p => p.code === 'disk_budget_full_soon').length, 0)
  const atBudget = h.problems.find(p => p.code === 'backlog_full')!
  assert.match(
    atBudget.text,
    /^Buffer 100% of its disk budget: devices with storage policy drop-oldest lose their oldest/
  )
  assert.doesNotMatch(atBudget.text, /soon be refused/)
})

test('offline devices are named longest silent first, with their ids for links', () => {
  const h = assess({
    mqttListening: true,
    bufferWritable: true,
    uplink: { state: 'connected', since: '2026-01-01T11:00:00Z', lastError: null, etaS: 0, drainRate: 1 },
    backlog: { readings: 0, bytes: 0, oldestAgeS: 0 },
    budgetBytes: 1e9,
    minFreeBytes: 0,
    devices: [
      { id: 'press-2', connected: false, lastSeenS: 120 },
      { id: 'press-10', connected: false, lastSeenS: 900 },
      { id: 'press-1', connected: false, lastSeenS: 120 },
      { id: 'press-3', connected: true, lastSeenS: 1 }
    ],
    recentDrops: {},
    recentRefused: {},
    recentErrors: 0,
    host: host('1', 10),
    nowMs: Date.parse('2026-01-01T12:00:00Z')
  })
  const p = h.problems.find(x => x.area === 'devices')!
  assert.deepEqual(p.devices, ['press-10', 'press-1', 'press-2'])
  assert.match(p.text, /3 devices offline for over a minute: press-10, press-1, press-2/)
})

test('a paused gateway whose uplink is down still says so, in red', () => {
  const now = Date.parse('2026-01-01T12:00:00Z')
  const h = assess({
    mqttListening: true,
    bufferWritable: true,
    uplink: {
      state: 'paused',
      link: 'down',
      since: '2026-01-01T11:59:50Z',
      outageSince: '2026-01-01T11:54:00Z',
      lastError: REFUSED,
      cause: uplinkCause(REFUSED),
      etaS: null,
      drainRate: 0
    },
    backlog: { readings: 10, bytes: 1000, oldestAgeS: 360 },
    budgetBytes: 1e9,
    ...quiet,
    host: host('1', 10),
    nowMs: now
  })
  assert.equal(h.level, 'crit')
  assert.match(
    h.problems[0]!.text,
    /^Uplink down for 6 min \(forwarding is also paused\): Kafka refused the connection/
  )
})
