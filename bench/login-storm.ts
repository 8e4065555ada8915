/**
 * A reconnect storm beside steady traffic: devices already connected publish QoS 1 at a steady rate
 * while --storm others log in at once, each needing a full scrypt check (N=2^14). The checks run on
 * libuv's thread pool, where the commit worker's WAL fdatasync also runs and every PUBACK waits for it:
 * do the publishers' PUBACKs wait behind the checks? Gateway on core 1, clients in this process.
 * JSON lines on stdout:
 *  - login-storm-phase (before, storm): the publishers' PUBACK p50/p99/max in that phase
 *  - login-storm: the storm's logins (connected, refused, seconds until the last CONNACK) and the
 *    PUBACK max during the storm against before it
 *
 *   node dist/bench/login-storm.js [--storm 400] [--publishers 20] [--rate 20] [--before 4]
 */
import { parseArgs } from 'node:util'
import mqtt from 'mqtt'
import { hashSecret } from '../src/identity/secret.js'
import { devicesConfig, secretOf, writeConfig } from '../test/harness/devices.js'
import { percentile, publishPaced, type PacedResult } from '../test/harness/fleet.js'
import { emit, startGateway } from './procs.js'

const { values: o } = parseArgs({
  options: {
    storm: { type: 'string', default: '400' },
    publishers: { type: 'string', default: '20' },
    rate: { type: 'string', default: '20' },
    before: { type: 'string', default: '4' }
  }
})
const STORM = Number(o.storm)
const PUBLISHERS = Number(o.publishers)
const RATE = Number(o.rate)
const BEFORE_MS = Number(o.before) * 1000
const STORM_SECRET = 'storm-secret'
const log = (m: string): void => {
  process.stderr.write(`[login-storm] ${m}\n`)
}

const pubIds = Array.from({ length: PUBLISHERS }, (_, i) => `pub-${i}`)
const stormIds = Array.from({ length: STORM }, (_, i) => `storm-${i}`)
// One full-cost hash for every storm device: each login still runs its own scrypt (nothing is cached yet).
const stormHash = await hashSecret(STORM_SECRET)
const devices = await devicesConfig(pubIds)
for (const id of stormIds) devices[id] = { passwordHash: stormHash }
const config = writeConfig({ devices })

const g = await startGateway({
  cpu: 1,
  config,
  anonymous: false,
  // Every login comes from 127.0.0.1: the per-address limits would refuse the storm, not the pool.
  extra: ['--mqtt-auth-failure-burst', '1000000', '--mqtt-auth-failures-per-min', '1000000']
})
const url = `mqtt://127.0.0.1:${g.mqttPort}`
const connect = async (id: string, password: string): Promise<mqtt.MqttClient> =>
  await mqtt.connectAsync(url, {
    clientId: id,
    username: id,
    password,
    reconnectPeriod: 0,
    connectTimeout: 120_000,
    keepalive: 120
  })

function phase(name: string, results: PacedResult[]): number | null {
  const lat = results.flatMap(r => r.latencies)
  const sent = results.reduce((a, r) => a + r.sent, 0)
  const acked = results.reduce((a, r) => a + r.acked, 0)
  const max = percentile(lat, 1)
  emit({
    scenario: 'login-storm-phase',
    phase: name,
    publishers: PUBLISHERS,
    ratePerPublisher: RATE,
    sent,
    acked,
    pubackP50Ms: percentile(lat, 0.5),
    pubackP99Ms: percentile(lat, 0.99),
    pubackMaxMs: max
  })
  return max
}

try {
  const pubs = await Promise.all(pubIds.map(async id => await connect(id, secretOf(id))))
  const paced = async (ms: number): Promise<PacedResult[]> =>
    await Promise.all(
      pubs.map(
        async (c, i) => await publishPaced(c, pubIds[i]!, { rate: RATE, durationMs: ms, window: 100, drainMs: 10_000 })
      )
    )
  log(`${PUBLISHERS} publishers connected; ${BEFORE_MS / 1000} s before the storm`)
  const beforeMax = phase('before', await paced(BEFORE_MS))

  log(`${STORM} devices log in at once`)
  const t0 = performance.now()
  let lastConnack = 0
  let refused = 0
  const logins = Promise.all(
    stormIds.map(async id => {
      try {
        const c = await connect(id, STORM_SECRET)
        lastConnack = performance.now() - t0
        return c
      } catch {
        refused++
        return null
      }
    })
  )
  // Publish for as long as the logins take (at least 2 s), then stop.
  const during: PacedResult[][] = []
  let done = false
  void logins.then(() => {
    done = true
  })
  while (!done || during.length === 0) during.push(await paced(2000))
  const clients = await logins
  const stormMax = phase('storm', during.flat())
  const connected = clients.filter(c => c !== null).length
  emit({
    scenario: 'login-storm',
    storm: STORM,
    connected,
    refused,
    lastConnackS: Math.round(lastConnack / 100) / 10,
    pubackMaxBeforeMs: beforeMax,
    pubackMaxDuringStormMs: stormMax,
    ok: connected === STORM
  })
  await Promise.all([...pubs, ...clients].map(async c => await c?.endAsync()))
} finally {
  await g.stop()
}
