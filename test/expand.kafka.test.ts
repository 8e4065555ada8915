import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { useKafka, type KafkaBroker } from './harness/kafka.js'
import { CLI, GatewayProcess, ROOT } from './harness/gateway.js'
import { startSim } from './harness/sim.js'
import { consumeAll } from './harness/consume.js'
import { waitFor } from './harness/wait.js'
import { writeConfig } from './harness/devices.js'

// `holdfast expand` against the real broker: two instances share the batch topic through a consumer
// group; one is SIGKILLed mid-stream; the output topic, read read_committed, holds every reading and
// rollup of the batch topic exactly once, each record valid against the published JSON Schema.

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

/**
 * A new 4-partition topic, ready when the broker's metadata shows a leader for every partition. (The
 * harness' createTopic lets kafkajs wait for leaders, which fails outright with UNKNOWN_TOPIC_OR_PARTITION
 * when a loaded broker answers the metadata request before its own metadata has the new topic.)
 */
let topicN = 0
async function newTopic(prefix: string): Promise<string> {
  const topic = `${prefix}-${Date.now()}-${topicN++}`
  const admin = kafka.client().admin()
  await admin.connect()
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 4, replicationFactor: 1 }], waitForLeaders: false })
    await waitFor(
      `leaders for ${topic}`,
      async () => {
        try {
          const [t] = (await admin.fetchTopicMetadata({ topics: [topic] })).topics
          return t?.partitions.length === 4 && t.partitions.every(p => p.leader >= 0)
        } catch {
          return false
        }
      },
      60_000
    )
  } finally {
    await admin.disconnect()
  }
  return topic
}

interface Expand {
  child: ChildProcess
  log: string
  exited: Promise<number | null>
}

function startExpand(args: string[], dir: string, name: string): Expand {
  const log = join(dir, `${name}.log`)
  const fd = openSync(log, 'a')
  const child = spawn(process.execPath, [CLI, 'expand', ...args], { stdio: ['ignore', fd, fd] })
  closeSync(fd)
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  return { child, log, exited }
}

const logOf = (e: Expand): string => {
  try {
    return readFileSync(e.log, 'utf8')
  } catch {
    return ''
  }
}

/** Partitions an instance was given at its latest group join (from its pino log). */
function assigned(e: Expand): number[] {
  const joins = logOf(e)
    .split('\n')
    .filter(l => l.includes('partitions assigned'))
  if (joins.length === 0) return []
  return (JSON.parse(joins[joins.length - 1]!) as { partitions: number[] }).partitions
}

interface OutRecord {
  key: string
  headers: Record<string, string>
  value: Record<string, unknown>
}

async function readOutput(topic: string, until: (n: number) => boolean): Promise<OutRecord[]> {
  // kafkajs' default isolation level is read_committed: aborted and open transactions stay invisible.
  const consumer = kafka.client().consumer({ groupId: `out-${Date.now()}`, readUncommitted: false })
  const out: OutRecord[] = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    let lastGrowth = Date.now()
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v)
        out.push({ key: message.key!.toString(), headers, value: JSON.parse(message.value!.toString()) })
        lastGrowth = Date.now()
      }
    })
    // Until the expected count is reached, and then 3 s more without growth (extra copies would show).
    await waitFor(
      'the output topic to hold every reading',
      () => until(out.length) && Date.now() - lastGrowth > 3000,
      120_000
    )
  } finally {
    await consumer.disconnect()
  }
  return out
}

test('two expand instances, one SIGKILLed mid-stream: every reading exactly once in the output, valid against the schema', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-expand-'))
  const input = await newTopic('expand-in')
  const output = await newTopic('expand-out')
  const config = writeConfig({
    aggregate: { rules: { t: { topics: ['devices/+/telemetry'], mode: 'both', windowMs: 2000, latenessMs: 500 } } }
  })
  const gw = await GatewayProcess.start({
    args: ['--config', config, '--kafka-brokers', kafka.brokers.join(','), '--kafka-topic', input]
  })
  const group = `expand-${Date.now()}`
  const common = [
    '--brokers',
    kafka.brokers.join(','),
    '--topic',
    input,
    '--output-topic',
    output,
    '--group',
    group,
    '--session-timeout-ms',
    '10000',
    '--messages-per-transaction',
    '10',
    '--dedupe-window',
    '5000'
  ]
  const a = startExpand(common, dir, 'a')
  const b = startExpand(common, dir, 'b')
  let sim: ReturnType<typeof startSim> | null = null
  try {
    await waitFor('both instances to hold partitions', () => assigned(a).length > 0 && assigned(b).length > 0, 60_000)
    // 12 devices at 10 readings/s for 15 s: the stream runs while A is killed and B takes over.
    sim = startSim(['--url', gw.url, '--devices', '12', '--rate', '10', '--duration', '15', '--qos', '1'])
    const admin = kafka.client().admin()
    await admin.connect()
    const consumed = async (): Promise<number> => {
      const [t] = await admin.fetchOffsets({ groupId: group, topics: [input] })
      return t!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)
    }
    let atKill: number
    try {
      // Kill A once the group has committed some of the input, while the fleet still publishes.
      await waitFor('the group to commit some input', async () => (await consumed()) >= 20, 60_000)
      a.child.kill('SIGKILL')
      atKill = await consumed()
    } finally {
      await admin.disconnect()
    }
    assert.equal(await a.exited, null, 'instance A died by SIGKILL')
    const simResult = await sim.result
    assert.equal(simResult.failed, 0)
    await waitFor('B to take over every partition', () => assigned(b).length === 4, 60_000)
    const st = await waitFor(
      'the gateway to forward everything, rollups included',
      async () => {
        const s = await gw.status()
        return s.backlog.readings === 0 && s.aggregation.openWindows === 0 ? s : undefined
      },
      60_000
    )
    const expected = (st.counters.forwarded as number) + (st.counters.forwardedRollups as number)
    assert.equal(st.counters.forwarded, simResult.acked, 'every acknowledged reading was forwarded')
    // The batch topic: every event id, with the headers that say class, kind and lane.
    const batches = await consumeAll(kafka, input, { until: n => n >= expected })
    assert.ok(
      atKill < batches.length,
      `A was killed mid-stream (the group had committed ${atKill} of ${batches.length} batches)`
    )
    const inputById = new Map<string, { device: string; topic: string; seq: number; kind: string; payload: Buffer }>()
    for (const m of batches)
      for (const r of m.readings)
        inputById.set(r.eventId, {
          device: r.device,
          topic: r.topic,
          seq: r.seq,
          // Format 2 carries each reading's kind in the body; format 1 in the message's hf-kind header.
          kind: (r as { kind?: string }).kind ?? m.headers['hf-kind']!,
          payload: r.payload
        })
    assert.equal(inputById.size, expected, 'the batch topic holds every reading and rollup')

    const records = await readOutput(output, n => n >= expected)
    const ids = records.map(r => r.value.eventId as string)
    const counts = new Map<string, number>()
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1)
    const dup = [...counts].filter(([, n]) => n > 1)
    assert.deepEqual(dup.slice(0, 5), [], `no reading twice in the output (${dup.length} duplicated)`)
    const missing = [...inputById.keys()].filter(id => !counts.has(id))
    assert.deepEqual(missing.slice(0, 5), [], `no reading missing from the output (${missing.length} missing)`)
    assert.equal(records.length, expected, 'exactly one record per reading')

    const schema = JSON.parse(readFileSync(join(ROOT, 'schemas/expanded-record.schema.json'), 'utf8'))
    const ajv = new Ajv2020({ allErrors: true, strict: true })
    addFormats(ajv)
    const validate = ajv.compile(schema)
    let rollups = 0
    for (const r of records) {
      assert.ok(validate(r.value), `record valid against the schema: ${JSON.stringify(validate.errors)}`)
      const src = inputById.get(r.value.eventId as string)!
      assert.equal(r.key, src.device, 'keyed by device')
      assert.equal(r.headers['hf-type'], r.value.type)
      assert.deepEqual([r.value.device, r.value.topic, r.value.seq], [src.device, src.topic, src.seq])
      assert.equal(r.value.kind, src.kind)
      if (r.value.type === 'rollup') {
        rollups++
        assert.deepEqual(r.value.rollup, JSON.parse(src.payload.toString()))
      } else {
        assert.deepEqual(r.value.payload, JSON.parse(src.payload.toString()), 'the payload as JSON')
        assert.equal(r.value.class, 'telemetry')
      }
    }
    assert.equal(rollups, st.counters.forwardedRollups, 'rollups are records of their own type')
    assert.ok(rollups > 0)
  } finally {
    sim?.child.kill('SIGKILL')
    a.child.kill('SIGKILL')
    b.child.kill('SIGTERM')
    const code = await b.exited
    await gw.stop()
    assert.equal(code, 0, `instance B stops cleanly on SIGTERM:\n${logOf(b).slice(-2000)}`)
  }
  const summary = JSON.parse(
    logOf(b)
      .trim()
      .split('\n')
      .filter(l => l.startsWith('{"summary"'))
      .pop()!
  ).summary
  assert.ok(summary.transactions > 0 && summary.written > 0, `B committed transactions: ${JSON.stringify(summary)}`)
})

test('taking a transactional id over fences the old owner: its open transaction is aborted, never read_committed', async () => {
  const topic = await newTopic('expand-fence')
  const id = `fence-${Date.now()}`
  const old = kafka.client().producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 })
  const next = kafka.client().producer({ transactionalId: id, idempotent: true, maxInFlightRequests: 1 })
  await old.connect()
  await next.connect()
  try {
    const zombie = await old.transaction()
    await zombie.send({ topic, messages: [{ key: 'd', value: 'from the old owner' }] })
    // What expand does when it takes a partition over: initialise the id (no EndTxn for an empty transaction).
    await (await next.transaction()).abort()
    const txn = await next.transaction()
    await txn.send({ topic, messages: [{ key: 'd', value: 'from the new owner' }] })
    await txn.commit()
    await assert.rejects(zombie.commit(), (err: { type?: string }) => err.type === 'INVALID_PRODUCER_EPOCH')
  } finally {
    await old.disconnect()
    await next.disconnect()
  }
  const read = async (readUncommitted: boolean): Promise<string[]> => {
    const consumer = kafka.client().consumer({ groupId: `fence-${readUncommitted}-${Date.now()}`, readUncommitted })
    const got: string[] = []
    await consumer.connect()
    try {
      await consumer.subscribe({ topic, fromBeginning: true })
      await consumer.run({
        eachMessage: async ({ message }) => {
          got.push(message.value!.toString())
        }
      })
      await waitFor('the new owner’s record', () => got.includes('from the new owner'), 30_000)
    } finally {
      await consumer.disconnect()
    }
    return got.sort()
  }
  assert.deepEqual(await read(false), ['from the new owner'], 'read_committed: only the committed record')
  assert.deepEqual(await read(true), ['from the new owner', 'from the old owner'], 'the aborted record was written')
})
