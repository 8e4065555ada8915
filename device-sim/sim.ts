#!/usr/bin/env node
/**
 * holdfast-sim: a fleet of simulated sensors. Imports mqtt only, never src/, so it can
 * drive any MQTT broker. Ends with one JSON line: published, acked, failed, PUBACK p50/p99.
 */
import mqtt from 'mqtt'
import { createWriteStream, type WriteStream } from 'node:fs'
import { parseArgs } from 'node:util'
import { SensorModel, seeded } from './telemetry.js'

const { values: o } = parseArgs({
  options: {
    url: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
    devices: { type: 'string', default: '10' },
    prefix: { type: 'string', default: 'sim-' },
    stream: { type: 'string', default: 'telemetry' },
    rate: { type: 'string', default: '1' },
    duration: { type: 'string', default: '0' },
    count: { type: 'string', default: '0' },
    qos: { type: 'string', default: '1' },
    protocol: { type: 'string', default: '4' },
    password: { type: 'string' },
    'password-template': { type: 'string' },
    inflight: { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
    'acked-log': { type: 'string' },
    'stats-interval': { type: 'string', default: '0' },
    help: { type: 'boolean', default: false }
  }
})

if (o.help === true) {
  process.stdout.write(`holdfast-sim — simulated sensor fleet
  --url URL              broker (mqtt://127.0.0.1:1883)
  --devices N            number of devices (10); ids <prefix>0..N-1
  --prefix P             device id prefix (sim-)
  --stream S             topic devices/<id>/<S> (telemetry)
  --rate R               readings per second per device (1)
  --duration S           stop after S seconds (0 = no limit)
  --count N              stop after N readings per device (0 = no limit)
  --qos 0|1|2            QoS (1)
  --protocol 4|5         MQTT 3.1.1 (4) or MQTT 5 (5): reason codes on refused publishes (4)
  --password PW          same password for every device (username = device id)
  --password-template T  per-device password, {id} replaced by the device id
  --inflight N           max unacknowledged publishes per device (10)
  --acked-log FILE       append "<device> <n>" for every acknowledged reading
  --stats-interval S     print a progress JSON line every S seconds to stderr
`)
  process.exit(0)
}

const num = (k: keyof typeof o): number => {
  const v = Number(o[k])
  if (!Number.isFinite(v) || v < 0) {
    process.stderr.write(`holdfast-sim: --${k} must be a non-negative number\n`)
    process.exit(2)
  }
  return v
}
const devices = num('devices')
const rate = num('rate')
const durationS = num('duration')
const count = num('count')
const qos = num('qos') as 0 | 1 | 2
const inflight = Math.max(1, num('inflight'))
const seed = num('seed')
const protocol = num('protocol')
if (protocol !== 4 && protocol !== 5) {
  process.stderr.write('holdfast-sim: --protocol must be 4 (MQTT 3.1.1) or 5 (MQTT 5)\n')
  process.exit(2)
}
if (durationS === 0 && count === 0) {
  process.stderr.write('holdfast-sim: give --duration or --count\n')
  process.exit(2)
}

const totals = { published: 0, acked: 0, failed: 0, retries: 0, refused: 0, connects: 0, disconnects: 0 }
/** MQTT 5: PUBACK/PUBREC, CONNACK and DISCONNECT reason codes (>= 0x80) the fleet got, by code. */
const reasonCodes: Record<string, number> = {}
const noteReason = (code: number | undefined): void => {
  if (code === undefined || code < 0x80) return
  const k = `0x${code.toString(16)}`
  reasonCodes[k] = (reasonCodes[k] ?? 0) + 1
}
/**
 * MQTT 5 PUBACK reason codes after which the same publish is pointless to repeat: not authorized,
 * topic name invalid, payload format invalid. Others (quota exceeded 0x97, unspecified 0x80) are retried.
 */
const FINAL = new Set([0x87, 0x90, 0x99])
const latencies: number[] = []
const ackedLog: WriteStream | null =
  o['acked-log'] !== undefined ? createWriteStream(o['acked-log'], { flags: 'a' }) : null
const deadline = durationS > 0 ? Date.now() + durationS * 1000 : Infinity
let stopping = false

interface Device {
  id: string
  client: mqtt.MqttClient
  model: SensorModel
  sent: number
  inFlight: number
  timer?: NodeJS.Timeout
}

function startDevice(i: number): Device {
  const id = `${o.prefix!}${i}`
  const password = o['password-template'] !== undefined ? o['password-template'].replaceAll('{id}', id) : o.password
  const client = mqtt.connect(o.url!, {
    clientId: id,
    username: password !== undefined ? id : undefined,
    password,
    clean: false,
    reconnectPeriod: 500,
    connectTimeout: 10_000,
    keepalive: 30,
    // MQTT 5: the session outlives a connection for an hour (clean: false alone is Clean Start = 0).
    ...(protocol === 5 ? { protocolVersion: 5 as const, properties: { sessionExpiryInterval: 3600 } } : {})
  })
  const dev: Device = { id, client, model: new SensorModel(seeded(seed * 100_003 + i)), sent: 0, inFlight: 0 }
  client.on('connect', () => {
    totals.connects++
  })
  client.on('close', () => {
    totals.disconnects++
  })
  client.on('error', err => {
    noteReason((err as { code?: unknown }).code as number | undefined)
    process.stderr.write(`holdfast-sim: ${id}: ${err.message}\n`)
  })
  client.on('disconnect', packet => {
    noteReason(packet.reasonCode)
    const why = packet.properties?.reasonString
    process.stderr.write(`holdfast-sim: ${id}: DISCONNECT 0x${(packet.reasonCode ?? 0).toString(16)} ${why ?? ''}\n`)
  })
  const topic = `devices/${id}/${o.stream!}`
  const intervalMs = rate > 0 ? 1000 / rate : 0
  const tick = (): void => {
    if (stopping || (count > 0 && dev.sent >= count) || Date.now() >= deadline) return
    if (dev.inFlight >= inflight) return
    dev.sent++
    dev.inFlight++
    totals.published++
    send(dev.model.next(Date.now()), dev.model.n - 1)
  }
  // Like a real device with a local queue: a reading whose publish failed is sent again, same bytes.
  const send = (payload: Buffer, n: number): void => {
    const t0 = performance.now()
    client.publish(topic, payload, { qos }, err => {
      if (err != null) {
        const code = (err as { code?: unknown }).code
        if (typeof code === 'number') noteReason(code)
        // Refused for good (MQTT 5): counted, not repeated.
        if (typeof code === 'number' && FINAL.has(code)) {
          dev.inFlight--
          totals.refused++
          if (totals.refused <= 5) process.stderr.write(`holdfast-sim: ${id}: publish refused: ${err.message}\n`)
          if (intervalMs === 0) tick()
          return
        }
        if (!stopping) {
          totals.retries++
          setTimeout(() => send(payload, n), 200)
          return
        }
        dev.inFlight--
        if (totals.failed++ < 5) process.stderr.write(`holdfast-sim: ${id}: publish failed: ${err.message}\n`)
        return
      }
      dev.inFlight--
      totals.acked++
      if (latencies.length < 2_000_000) latencies.push(performance.now() - t0)
      ackedLog?.write(`${id} ${n}\n`)
      if (intervalMs === 0) tick()
    })
  }
  if (intervalMs > 0) {
    // Stagger devices across the interval so the fleet does not publish in lockstep.
    setTimeout(() => {
      tick()
      dev.timer = setInterval(tick, intervalMs)
    }, Math.random() * intervalMs)
  } else {
    client.on('connect', () => {
      for (let k = 0; k < inflight; k++) tick()
    })
  }
  return dev
}

const fleet: Device[] = []
for (let i = 0; i < devices; i++) fleet.push(startDevice(i))

const pct = (sorted: number[], p: number): number | null =>
  sorted.length === 0
    ? null
    : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! * 100) / 100

const statsEvery = num('stats-interval')
const statsTimer =
  statsEvery > 0
    ? setInterval(() => process.stderr.write(JSON.stringify({ progress: true, ...totals }) + '\n'), statsEvery * 1000)
    : undefined

const started = Date.now()
const doneCheck = setInterval(() => {
  const allSent = fleet.every(d => (count > 0 && d.sent >= count) || Date.now() >= deadline)
  const drained = fleet.every(d => d.inFlight === 0)
  // After the last publish, allow up to 30 s for outstanding acks (e.g. across a gateway restart).
  if ((allSent && drained) || Date.now() >= deadline + 30_000) finish()
}, 100)

function finish(): void {
  if (stopping) return
  stopping = true
  clearInterval(doneCheck)
  if (statsTimer !== undefined) clearInterval(statsTimer)
  for (const d of fleet) {
    if (d.timer !== undefined) clearInterval(d.timer)
    d.client.end(true)
  }
  latencies.sort((a, b) => a - b)
  const elapsedS = (Date.now() - started) / 1000
  const line = {
    ...totals,
    protocol,
    reasonCodes,
    unacked: totals.published - totals.acked - totals.failed - totals.refused,
    elapsedS,
    ackedPerS: Math.round(totals.acked / elapsedS),
    pubackP50Ms: pct(latencies, 0.5),
    pubackP99Ms: pct(latencies, 0.99)
  }
  const out = (): void => {
    process.stdout.write(JSON.stringify(line) + '\n')
    process.exit(0)
  }
  if (ackedLog !== null) ackedLog.end(out)
  else out()
}
process.on('SIGINT', finish)
process.on('SIGTERM', finish)
