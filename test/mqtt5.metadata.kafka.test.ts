import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { useKafka, type KafkaBroker } from './harness/kafka.js'
import { CLI, GatewayProcess, ROOT, runCli } from './harness/gateway.js'
import { consumeAll, createTopic, uplinkArgs } from './harness/consume.js'
import { waitFor } from './harness/wait.js'

// A reading's MQTT 5 User Properties and Content Type travel with it: stored in the buffer, carried in
// the batch (format version 3), shown by `holdfast decode` and `holdfast expand`. Real mqtt.js clients,
// real gateway processes, the real Kafka broker.

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020
) => Ajv2020

let kafka: KafkaBroker
before(async () => {
  kafka = await useKafka()
})
after(async () => {
  await kafka?.dispose()
})

const PROPS = { site: ['plant-7', 'annex'], line: '3', unit: '°C' }
const PAIRS = [
  ['site', 'plant-7'],
  ['site', 'annex'],
  ['line', '3'],
  ['unit', '°C']
]
const body = (n: number): string => JSON.stringify({ ts: 1_760_000_000_000 + n, n })
const nOf = (payload: Buffer): number => (JSON.parse(payload.toString()) as { n: number }).n

/** Reading 1 over MQTT 5 with metadata, reading 2 over MQTT 5 without, reading 3 over MQTT 3.1.1. */
async function publishThree(gw: GatewayProcess): Promise<void> {
  const v5 = await mqtt.connectAsync(gw.url, { clientId: 'meta-5', protocolVersion: 5, reconnectPeriod: 0 })
  await v5.publishAsync('devices/meta-5/telemetry', body(1), {
    qos: 1,
    properties: { userProperties: PROPS, contentType: 'application/json' }
  })
  await v5.publishAsync('devices/meta-5/telemetry', body(2), { qos: 1 })
  await v5.endAsync()
  const v4 = await mqtt.connectAsync(gw.url, { clientId: 'meta-4', protocolVersion: 4, reconnectPeriod: 0 })
  await v4.publishAsync('devices/meta-4/telemetry', body(3), { qos: 1 })
  await v4.endAsync()
}

/** Reading 4 from another MQTT 5 client: names interleaved and repeated, an empty value, a vendor Content Type. */
async function mosquittoPub(gw: GatewayProcess): Promise<void> {
  const args = [
    ...['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(gw.mqttPort), '-i', 'meta-m'],
    ...['-t', 'devices/meta-m/telemetry', '-q', '1', '-m', body(4)],
    ...['-D', 'publish', 'user-property', 'a', '1', '-D', 'publish', 'user-property', 'b', '2'],
    ...['-D', 'publish', 'user-property', 'a', '', '-D', 'publish', 'user-property', 'a', '3'],
    ...['-D', 'publish', 'content-type', 'application/vnd.acme+json']
  ]
  const child = spawn('mosquitto_pub', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', d => (out += d))
  child.stderr.on('data', d => (out += d))
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  assert.equal(code, 0, out)
}
const MOSQUITTO_META = {
  userProperties: [
    ['a', '1'],
    ['b', '2'],
    ['a', ''],
    ['a', '3']
  ],
  contentType: 'application/vnd.acme+json'
}

test('MQTT 5 User Properties (in the order sent) and Content Type reach Kafka with their reading; decode and expand show them; a 3.1.1 reading has none', {
  timeout: 300_000
}, async () => {
  const topic = await createTopic(kafka, 'metadata', 1)
  const gw = await GatewayProcess.start({ args: [...uplinkArgs(kafka, topic), '--batch-linger-ms', '0'] })
  try {
    await publishThree(gw)
    await mosquittoPub(gw)
    const batches = await consumeAll(kafka, topic, { until: n => n >= 4, timeoutMs: 60_000 })
    const readings = batches.flatMap(b => b.readings)
    const byN = new Map(readings.map(r => [nOf(r.payload), r]))
    assert.deepEqual(byN.get(1)!.metadata, { userProperties: PAIRS, contentType: 'application/json' })
    assert.equal(byN.get(2)!.metadata, undefined, 'an MQTT 5 publish without metadata carries none')
    assert.equal(byN.get(3)!.metadata, undefined, 'an MQTT 3.1.1 publish carries none')
    assert.deepEqual(byN.get(4)!.metadata, MOSQUITTO_META, 'in the order sent, an empty value kept')
    const withMeta = batches.find(b => b.readings.some(r => r.metadata !== undefined))!
    assert.equal(withMeta.headers['hf-format'], '3', 'a batch with metadata is version 3')
    for (const b of batches.filter(x => x.type !== 'control' && x.readings.every(r => r.metadata === undefined)))
      assert.equal(b.headers['hf-format'], '2', 'a batch without metadata stays version 2')

    // holdfast decode, reading the topic.
    const dec = await runCli(
      ['decode', '--brokers', kafka.brokers.join(','), '--topic', topic, '--from-beginning', '--idle-exit-ms', '3000'],
      { timeoutMs: 90_000 }
    )
    assert.equal(dec.code, 0, dec.stderr)
    const lines = dec.stdout
      .trim()
      .split('\n')
      .map(l => JSON.parse(l) as { payload: { n: number }; metadata: unknown })
    const line = (n: number) => lines.find(l => l.payload.n === n)!
    assert.deepEqual(line(1).metadata, { userProperties: PAIRS, contentType: 'application/json' })
    assert.deepEqual(line(2).metadata, {})
    assert.deepEqual(line(3).metadata, {})
    assert.deepEqual(line(4).metadata, MOSQUITTO_META)

    // holdfast expand: one JSON record per reading, valid against the published schema.
    const output = `${topic}.expanded`
    const expand = spawn(
      process.execPath,
      [CLI, 'expand', '--brokers', kafka.brokers.join(','), '--topic', topic, '--output-topic', output],
      { stdio: ['ignore', 'ignore', 'pipe'] }
    )
    let stderr = ''
    expand.stderr.on('data', d => {
      stderr += d
    })
    const exited = new Promise<number | null>(resolve => expand.once('exit', code => resolve(code)))
    try {
      const records = await readRecords(output, 4)
      const schema = JSON.parse(readFileSync(join(ROOT, 'schemas/expanded-record.schema.json'), 'utf8'))
      const ajv = new Ajv2020({ allErrors: true, strict: true })
      addFormats(ajv)
      const validate = ajv.compile(schema)
      for (const r of records) assert.ok(validate(r), JSON.stringify(validate.errors))
      const rec = (n: number) => records.find(r => (r.payload as { n: number }).n === n)!
      assert.deepEqual(rec(1).metadata, { userProperties: PAIRS, contentType: 'application/json' })
      assert.deepEqual(rec(2).metadata, {})
      assert.deepEqual(rec(3).metadata, {})
      assert.deepEqual(rec(4).metadata, MOSQUITTO_META)
    } finally {
      expand.kill('SIGTERM')
      assert.equal(await exited, 0, stderr.slice(-2000))
    }
  } finally {
    await gw.stop()
  }
})

test('metadata survives kill -9 before forwarding: it was in the buffer file with its reading', {
  timeout: 240_000
}, async () => {
  const topic = await createTopic(kafka, 'metadata-kill9', 1)
  // No uplink yet: every reading waits in the buffer.
  const gw = await GatewayProcess.start()
  let next: GatewayProcess | null = null
  try {
    await publishThree(gw) // each publishAsync resolved on its PUBACK: the readings are committed
    await gw.kill()
    next = await GatewayProcess.start({
      dataDir: gw.dataDir,
      args: [...uplinkArgs(kafka, topic), '--batch-linger-ms', '0']
    })
    const batches = await consumeAll(kafka, topic, { until: n => n >= 3, timeoutMs: 60_000 })
    const byN = new Map(batches.flatMap(b => b.readings).map(r => [nOf(r.payload), r]))
    assert.deepEqual([...byN.keys()].sort(), [1, 2, 3])
    assert.deepEqual(byN.get(1)!.metadata, { userProperties: PAIRS, contentType: 'application/json' })
    assert.equal(byN.get(2)!.metadata, undefined)
    assert.equal(byN.get(3)!.metadata, undefined)
  } finally {
    await next?.stop()
    await gw.stop()
  }
})

/** The expanded records of `topic` (read_committed), once `count` are there. */
async function readRecords(topic: string, count: number): Promise<Array<Record<string, unknown>>> {
  const consumer = kafka.client().consumer({ groupId: `meta-out-${Date.now()}` })
  const out: Array<Record<string, unknown>> = []
  await consumer.connect()
  try {
    // expand creates its output topic when it starts: wait for it.
    await waitFor(
      `topic ${topic}`,
      async () => {
        const admin = kafka.client().admin()
        await admin.connect()
        try {
          return (await admin.listTopics()).includes(topic)
        } finally {
          await admin.disconnect()
        }
      },
      60_000
    )
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        out.push(JSON.parse(message.value!.toString()) as Record<string, unknown>)
      }
    })
    await waitFor(`${count} expanded records`, () => out.length >= count, 90_000)
  } finally {
    await consumer.disconnect()
  }
  return out
}
