/**
 * What applying a large remote document costs the broker's thread, against the real Kafka test broker
 * (test/harness/kafka.ts) and a real gateway process with remote configuration on. For each device count a
 * fresh gateway takes paced QoS 1 load (rawpub) while two signed documents are pushed to its own layer the
 * way `holdfast fleet push` does (gzip): `add` provisions N devices (each with its own scrypt hash),
 * `change` then changes one of them. One JSON line per push:
 *  - applyMs: from the push to the gateway's `applied` event (its `at`), confirmMs: to `confirmed`
 *  - loopDelayMaxMs: the broker thread's largest event-loop delay since start (/metrics), read before the
 *    push (loopDelayMaxBeforeMs) and after the outcome: the longest the thread was held
 *  - pubackMaxMs / pubackP99Ms: the PUBACKs received from the push to 1.5 s after its outcome (rawpub
 *    interval lines); the `quiet` line gives the same for 5 s before the first push, for comparison
 *
 *   node dist/bench/remote-config.js [--devices 1000,5000,12000] [--conns 50] [--rate 1000] [--cpu-prof DIR]
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { CompressionTypes } from 'kafkajs'
import { startKafka, type KafkaBroker } from '../test/harness/kafka.js'
import { createTopic, operatorKey, remoteConfigFile, signed, StatusTopic, topicName } from '../test/harness/remote.js'
import {
  addHist,
  emit,
  histQuantile,
  loopDelay,
  pacedArgs,
  sleep,
  startGateway,
  startRawpub,
  UNIT_NODE_FLAGS
} from './procs.js'

const { values: o } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000,5000,12000' },
    conns: { type: 'string', default: '50' },
    rate: { type: 'string', default: '1000' },
    'cpu-prof': { type: 'string', default: '' }
  }
})
const progress = (s: string): void => {
  process.stderr.write(`[remote-config] ${s}\n`)
}

/** A hash in `holdfast hash-password`'s format with default cost; random bytes stand for the key (no secret matches). */
const fakeHash = (): string =>
  `scrypt$16384$8$1$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`

function deviceList(n: number, changed: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (let i = 0; i < n; i++)
    out[`dev-x${i}`] = { passwordHash: hashes[i]!, ...(changed && i === 0 ? { quota: { msgsPerS: 50 } } : {}) }
  return out
}
let hashes: string[] = []

async function pushGzip(kafka: KafkaBroker, topic: string, key: string, value: Buffer): Promise<void> {
  const producer = kafka.client().producer()
  await producer.connect()
  try {
    await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages: [{ key, value }] })
  } finally {
    await producer.disconnect()
  }
}

/** PUBACK latency of the interval lines received from `from` to `to`: the window's p99 and its largest. */
function pubacks(
  seconds: Array<{ at: number; line: Record<string, unknown> }>,
  from: number,
  to: number
): { pubackP99Ms: number | null; pubackMaxMs: number } {
  const h = new Map<number, number>()
  let max = 0
  for (const s of seconds.filter(s => s.at >= from && s.at <= to)) {
    addHist(h, s.line.hist)
    max = Math.max(max, Number(s.line.maxMs ?? 0))
  }
  return { pubackP99Ms: histQuantile(h, 0.99), pubackMaxMs: max }
}

async function run(kafka: KafkaBroker, n: number): Promise<void> {
  const key = operatorKey()
  const dir = mkdtempSync(join(tmpdir(), 'hf-bench-rc-'))
  const topic = topicName('telemetry')
  const configTopic = topicName('config')
  await createTopic(kafka, topic, { partitions: 3 })
  await createTopic(kafka, configTopic, { compact: true })
  const status = await StatusTopic.open(kafka, topicName('status'))
  const file = remoteConfigFile(dir, { kafka, topic, configTopic, statusTopic: status.topic, key })
  const profDir = o['cpu-prof'] === '' ? null : resolve(o['cpu-prof']!, `devices-${n}`)
  if (profDir !== null) mkdirSync(profDir, { recursive: true })
  const gw = await startGateway({
    cpu: 1,
    config: file,
    nodeFlags: [...UNIT_NODE_FLAGS, ...(profDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`])]
  })
  // PUBACK latency per second, by the second it was received in.
  const seconds: Array<{ at: number; line: Record<string, unknown> }> = []
  const pub = startRawpub(
    0,
    pacedArgs({ port: gw.mqttPort, conns: o.conns!, rate: o.rate!, warmupS: 2, seconds: 60, intervalS: 1 }),
    line => seconds.push({ at: Date.now(), line })
  )
  try {
    await status.heartbeat(r => r.gatewayId === 'bench', 60_000)
    await sleep(3000)
    const quietFrom = Date.now()
    await sleep(5000)
    emit({
      scenario: 'remote-config-quiet',
      devices: n,
      ...pubacks(seconds, quietFrom, Date.now()),
      load: { conns: Number(o.conns), rate: Number(o.rate) }
    })
    let version = 0
    for (const step of ['add', 'change'] as const) {
      version++
      const doc = signed(key, {
        gatewayId: 'bench',
        version,
        confirmWindowS: 60,
        config: { devices: deviceList(n, step === 'change') }
      })
      const before = await loopDelay(gw.http)
      const pushedAt = Date.now()
      await pushGzip(kafka, configTopic, 'bench', doc)
      const applied = await status.event(
        `applied v${version}`,
        r => r.type !== 'heartbeat' && r.gatewayId === 'bench' && r.version === version,
        120_000
      )
      const done =
        applied.type === 'applied'
          ? await status.event(`confirmed v${version}`, r => r.type === 'confirmed' && r.version === version, 120_000)
          : applied
      await sleep(1500)
      const after = await loopDelay(gw.http)
      emit({
        scenario: `remote-config-${step}`,
        devices: n,
        documentBytes: doc.length,
        outcome: applied.type,
        applyMs: Date.parse(applied.at) - pushedAt,
        confirmMs: done.type === 'confirmed' ? Date.parse(done.at) - pushedAt : null,
        loopDelayMaxBeforeMs: before?.max ?? null,
        loopDelayMaxMs: after?.max ?? null,
        loopDelayP99Ms: after?.p99 ?? null,
        ...pubacks(seconds, pushedAt, Date.now()),
        load: { conns: Number(o.conns), rate: Number(o.rate) }
      })
      await sleep(2000)
    }
  } finally {
    pub.child.kill('SIGTERM')
    await pub.result
    await gw.stop()
    await status.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const counts = o.devices!.split(',').map(Number)
progress(`making ${Math.max(...counts)} device hashes`)
hashes = Array.from({ length: Math.max(...counts) }, fakeHash)
progress('starting Kafka')
const kafka = await startKafka()
try {
  for (const n of counts) {
    progress(`${n} devices`)
    await run(kafka, n)
  }
} finally {
  await kafka.dispose()
}
