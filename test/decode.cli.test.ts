import { createTopicReady } from './harness/consume.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CompressionTypes, Partitioners } from 'kafkajs'
import { encodeBatch, frameStream, KAFKA_COMPRESSION, type BatchMessage } from '../src/codec/batch.js'
import type { StoredReading } from '../src/store/reading.js'
import { packMetadata, unpackMetadata } from '../src/codec/metadata.js'
import { useKafka } from './harness/kafka.js'

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url))
const GW = 'plant-7-gw1'
const T0 = Date.UTC(2025, 9, 9, 8, 0, 0)

interface Run {
  code: number | null
  stdout: string
  stderr: string
  lines: Array<Record<string, unknown>>
  summary: Record<string, number>
}

function holdfast(args: string[], input?: Buffer, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`holdfast ${args.join(' ')} timed out; stderr:\n${stderr}`))
    }, timeoutMs)
    child.on('error', reject)
    child.on('close', code => {
      clearTimeout(timer)
      const lines = stdout
        .split('\n')
        .filter(l => l !== '')
        .map(l => JSON.parse(l) as Record<string, unknown>)
      const last = stderr
        .trim()
        .split('\n')
        .map(l => {
          try {
            return JSON.parse(l) as Record<string, unknown>
          } catch {
            return {}
          }
        })
        .find(o => 'summary' in o)
      resolve({ code, stdout, stderr, lines, summary: (last?.summary ?? {}) as Record<string, number> })
    })
    child.stdin.end(input ?? Buffer.alloc(0))
  })
}

function r(
  device: string,
  seq: number,
  payload: Buffer | string,
  eventMs: number | null,
  over: Partial<StoredReading> = {}
): StoredReading {
  return {
    seq,
    device,
    topic: `devices/${device}/telemetry`,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    recvMs: T0 + seq * 10,
    eventMs,
    qos: 1,
    ...over
  }
}

const A = [
  r('press-1', 101, '{"ts":1760000000000,"n":0,"temp":21.34}', 1_760_000_000_000),
  r('press-1', 103, Buffer.from([0, 1, 2, 255]), null, { topic: 'devices/press-1/blob', qos: 0 }),
  // An MQTT 5 reading with metadata: its batch is version 3, decoded beside version 2 ones.
  r('press-1', 107, '{"temp": 21.5}', null, {
    qos: 2,
    props: packMetadata('application/json', [
      ['site', 'plant-7'],
      ['line', '3'],
      ['site', 'annex']
    ])
  })
]
const B = [r('press-2', 102, '{"ts":1760000000004,"n":0,"temp":19.5}', 1_760_000_000_004), r('press-2', 104, '', null)]

/** The JSON line the decoder must print for a reading. */
function expected(x: StoredReading): Record<string, unknown> {
  const line: Record<string, unknown> = {
    eventId: `${GW}:${x.seq}`,
    gatewayId: GW,
    seq: x.seq,
    device: x.device,
    topic: x.topic,
    recvTime: new Date(x.recvMs).toISOString(),
    eventTime: x.eventMs === null ? null : new Date(x.eventMs).toISOString(),
    qos: x.qos,
    // encodeBatch's defaults (enc below): no class name, devices' readings, the backlog lane.
    class: '',
    kind: 'raw',
    lane: 'backlog',
    metadata: x.props == null ? {} : unpackMetadata(x.props)
  }
  try {
    line.payload = JSON.parse(x.payload.toString())
  } catch {
    line.payloadBase64 = x.payload.toString('base64')
  }
  return line
}

const enc = (list: StoredReading[], compress = false): BatchMessage => encodeBatch(GW, list, { compress })

test('decode FILE...: one JSON line per reading with its MQTT 5 metadata (version 2 and 3 batches), a re-sent batch printed once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-decode-'))
  const single = join(dir, 'a.hfb')
  const stream = join(dir, 'stream.hfs')
  writeFileSync(single, enc(A).value)
  // A stream holding B, then A again (a re-send) and B again compressed inside the value.
  writeFileSync(stream, frameStream([enc(B).value, enc(A).value, enc(B, true).value]))
  const run = await holdfast(['decode', single, stream])
  assert.equal(run.code, 0, run.stderr)
  assert.deepEqual(run.lines, [...A, ...B].map(expected))
  assert.deepEqual(run.summary, { batches: 4, readings: 10, printed: 5, duplicates: 5, unverified: 0, undecodable: 0 })
  assert.equal(run.lines[1]!.payloadBase64, 'AAEC/w==')
  assert.deepEqual(run.lines[2]!.metadata, {
    userProperties: [
      ['site', 'plant-7'],
      ['line', '3'],
      ['site', 'annex']
    ],
    contentType: 'application/json'
  })
  assert.deepEqual(run.lines[0]!.metadata, {}, 'a reading without metadata prints {}')
  assert.equal(run.lines[4]!.payloadBase64, '')
})

test('decode - reads stdin; undecodable input is reported, skipped, and makes the exit status 1', async () => {
  const run = await holdfast(['decode', '-'], frameStream([enc(A).value, enc(B).value]))
  assert.equal(run.code, 0, run.stderr)
  assert.deepEqual(
    run.lines.map(l => l.eventId),
    [101, 103, 107, 102, 104].map(s => `${GW}:${s}`)
  )

  const dir = mkdtempSync(join(tmpdir(), 'hf-decode-'))
  const garbage = join(dir, 'garbage.bin')
  const damaged = join(dir, 'damaged.hfs')
  const good = join(dir, 'good.hfb')
  writeFileSync(garbage, 'HF this is not a batch')
  const broken = Buffer.from(enc(A).value)
  writeFileSync(damaged, frameStream([broken.subarray(0, broken.length - 3), enc(B).value]))
  writeFileSync(good, enc(A).value)
  const bad = await holdfast(['decode', garbage, damaged, good, join(dir, 'missing.hfb')])
  assert.equal(bad.code, 1)
  assert.deepEqual(
    bad.lines.map(l => l.seq),
    [102, 104, 101, 103, 107],
    'good values in the same files still decoded'
  )
  assert.equal(bad.summary.undecodable, 3)
  assert.match(bad.stderr, /HF_ERR_DECODE/)
  assert.match(bad.stderr, /missing\.hfb/)
})

test('decode usage errors exit 2 with HF_ERR_USAGE', async () => {
  for (const args of [
    ['decode'],
    ['decode', '--topic', 't'],
    ['decode', 'x', '--max-messages', '2'],
    ['decode', '--bogus', '1', 'x']
  ]) {
    const run = await holdfast(args)
    assert.equal(run.code, 2, args.join(' '))
    assert.match(run.stderr, /HF_ERR_USAGE/)
  }
})

test('decode --topic against a real Kafka broker: de-duplicated, in order per device, offsets committed per group', {
  timeout: 240_000
}, async () => {
  const broker = await useKafka()
  try {
    const topic = `holdfast.decode.${Date.now()}`
    const kafka = broker.client()
    await createTopicReady(broker, { topic, numPartitions: 3 })
    const devices = ['press-1', 'press-2', 'press-3', 'press-4']
    const batches: StoredReading[][] = []
    let seq = 1000
    for (let round = 0; round < 3; round++) {
      for (const d of devices)
        batches.push([0, 1, 2].map(k => r(d, seq++, `{"ts":${T0 + seq},"n":${round * 3 + k}}`, T0 + seq)))
    }
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner
    })
    await producer.connect()
    const compression = KAFKA_COMPRESSION === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None
    const toMessage = (m: BatchMessage): { key: string; value: Buffer; headers: Record<string, string> } => ({
      key: m.key,
      value: m.value,
      headers: m.headers
    })
    await producer.send({ topic, acks: -1, compression, messages: batches.map(b => toMessage(enc(b))) })
    // A re-send of two batches (as after a lost ack), one of them regrouped.
    await producer.send({
      topic,
      acks: -1,
      compression,
      messages: [toMessage(enc(batches[1]!)), toMessage(enc(batches[6]!.slice(1)))]
    })
    await producer.disconnect()
    const total = batches.length * 3

    const all = await holdfast([
      'decode',
      '--brokers',
      broker.brokers.join(','),
      '--topic',
      topic,
      '--from-beginning',
      '--idle-exit-ms',
      '4000'
    ])
    assert.equal(all.code, 0, all.stderr)
    assert.equal(all.lines.length, total)
    assert.equal(new Set(all.lines.map(l => l.eventId)).size, total)
    assert.equal(all.summary.duplicates, 5)
    for (const d of devices) {
      const mine = all.lines.filter(l => l.device === d)
      assert.deepEqual(
        mine.map(l => (l.payload as { n: number }).n),
        [...Array(9).keys()],
        `${d}: every reading once, in order`
      )
    }
    const byId = new Map(all.lines.map(l => [l.eventId, l]))
    for (const b of batches) for (const x of b) assert.deepEqual(byId.get(`${GW}:${x.seq}`), expected(x))

    // With a group, --max-messages stops after N messages and commits exactly those; the next run resumes.
    const group = `decode-test-${Date.now()}`
    const first = await holdfast([
      'decode',
      '--brokers',
      broker.brokers[0]!,
      '--topic',
      topic,
      '--from-beginning',
      '--group',
      group,
      '--max-messages',
      '5'
    ])
    assert.equal(first.code, 0, first.stderr)
    assert.equal(first.summary.batches, 5)
    const rest = await holdfast([
      'decode',
      '--brokers',
      broker.brokers[0]!,
      '--topic',
      topic,
      '--from-beginning',
      '--group',
      group,
      '--idle-exit-ms',
      '4000'
    ])
    assert.equal(rest.code, 0, rest.stderr)
    assert.equal(
      first.summary.batches + rest.summary.batches,
      batches.length + 2,
      'every message read once across the two runs'
    )
    const union = new Set([...first.lines, ...rest.lines].map(l => l.eventId))
    assert.equal(union.size, total)
  } finally {
    await broker.dispose()
  }
})
