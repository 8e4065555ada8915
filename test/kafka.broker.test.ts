/**
 * Smoke test: kafkajs 2.2.4 against the real Apache Kafka broker from
 * test/harness/kafka.ts. Proves the features Holdfast's forwarder relies on:
 * topic creation, idempotent acks=all GZIP produce with headers, consumer
 * groups, offset admin calls, SASL/SCRAM auth, and an outage + recovery.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  CompressionTypes,
  Partitioners,
  type Admin,
  type Consumer,
  type IHeaders,
  type Kafka,
  type KafkaMessage,
  type Producer,
  type SASLOptions
} from 'kafkajs'
import { KAFKA_LOG_DIR, KAFKA_VERSION, startKafka, type KafkaBroker } from './harness/kafka.js'

const KEYS = ['dev-a', 'dev-b', 'dev-c', 'dev-d', 'dev-e', 'dev-f']
const PER_KEY = 20

interface Received {
  partition: number
  offset: string
  key: string
  value: string
  headers: IHeaders
}

function header(h: IHeaders, name: string): string | undefined {
  const v = h[name]
  if (v === undefined) return undefined
  const one = Array.isArray(v) ? v[0] : v
  return one === undefined ? undefined : Buffer.isBuffer(one) ? one.toString('utf8') : String(one)
}

interface BatchHeader {
  baseOffset: bigint
  codec: number
  producerId: bigint
  baseSequence: number
  count: number
}

/** Parse the v2 record-batch headers of a Kafka log segment (to check what really hit the disk). */
function readBatchHeaders(file: string): BatchHeader[] {
  const b = fs.readFileSync(file)
  const out: BatchHeader[] = []
  for (let i = 0; i + 61 <= b.length; ) {
    const batchLength = b.readInt32BE(i + 8)
    assert.equal(b.readInt8(i + 16), 2, 'record batch magic v2')
    out.push({
      baseOffset: b.readBigInt64BE(i),
      codec: b.readInt16BE(i + 21) & 0x7,
      producerId: b.readBigInt64BE(i + 43),
      baseSequence: b.readInt32BE(i + 53),
      count: b.readInt32BE(i + 57)
    })
    i += 12 + batchLength
  }
  return out
}

function scram(mechanism: 'scram-sha-256' | 'scram-sha-512', username: string, password: string): SASLOptions {
  return mechanism === 'scram-sha-256'
    ? { mechanism: 'scram-sha-256', username, password }
    : { mechanism: 'scram-sha-512', username, password }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
      })
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Consume `topic` from the beginning with a fresh group until `count` messages arrived. */
async function consumeAll(kafka: Kafka, topic: string, groupId: string, count: number): Promise<Received[]> {
  const consumer: Consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 })
  const got: Received[] = []
  try {
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    let done!: () => void
    const allIn = new Promise<void>(r => (done = r))
    await consumer.run({
      eachMessage: async ({ partition, message }: { partition: number; message: KafkaMessage }) => {
        got.push({
          partition,
          offset: message.offset,
          key: message.key?.toString('utf8') ?? '',
          value: message.value?.toString('utf8') ?? '',
          headers: message.headers ?? {}
        })
        if (got.length >= count) done()
      }
    })
    await withTimeout(allIn, 60_000, `consume ${count} messages from ${topic} (got ${got.length})`)
  } finally {
    // disconnect() commits the consumed offsets (autoCommit) before leaving the group.
    await consumer.disconnect()
  }
  return got
}

describe(`kafkajs against Apache Kafka ${KAFKA_VERSION} (real broker)`, { timeout: 300_000 }, () => {
  let broker: KafkaBroker
  let kafka: Kafka
  let admin: Admin
  const topic = `holdfast.smoke.${Date.now()}`
  const groupId = `holdfast-smoke-${Date.now()}`

  before(async () => {
    const t0 = Date.now()
    broker = await startKafka()
    console.log(
      `# Kafka ${KAFKA_VERSION} ready on ${broker.brokers[0]} (SASL ${broker.saslBrokers[0]}) in ${Date.now() - t0} ms`
    )
    kafka = broker.client()
    admin = kafka.admin()
    await admin.connect()
  })

  after(async () => {
    await admin?.disconnect().catch(() => {})
    await broker?.dispose()
  })

  test('createTopics with 3 partitions', async () => {
    const created = await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 3, replicationFactor: 1 }]
    })
    assert.equal(created, true)
    const md = await admin.fetchTopicMetadata({ topics: [topic] })
    assert.equal(md.topics[0]!.partitions.length, 3)
    assert.ok((await admin.listTopics()).includes(topic))
  })

  test('idempotent producer: acks=-1, GZIP, headers; consumer group reads back in order per key', async () => {
    const producer: Producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner
    })
    await producer.connect()
    try {
      // Several batches so ordering is checked across requests, not just within one.
      for (let seq = 0; seq < PER_KEY; seq += 5) {
        const messages = []
        for (let s = seq; s < seq + 5; s++) {
          for (const key of KEYS) {
            messages.push({
              key,
              value: JSON.stringify({ device: key, seq: s, t: Date.now() }),
              headers: {
                'holdfast-seq': String(s),
                'content-type': 'application/json',
                'holdfast-bin': Buffer.from([0, 1, 2, 255])
              }
            })
          }
        }
        const res = await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages })
        assert.ok(res.length > 0)
        for (const r of res) assert.equal(r.errorCode, 0)
      }
    } finally {
      await producer.disconnect()
    }

    const total = KEYS.length * PER_KEY
    const got = await consumeAll(kafka, topic, groupId, total)
    assert.equal(got.length, total)

    const partitionOfKey = new Map<string, number>()
    const lastSeq = new Map<string, number>()
    for (const m of got) {
      const body = JSON.parse(m.value) as { device: string; seq: number }
      assert.equal(body.device, m.key)
      assert.equal(header(m.headers, 'holdfast-seq'), String(body.seq))
      assert.equal(header(m.headers, 'content-type'), 'application/json')
      const bin = m.headers['holdfast-bin']
      assert.ok(Buffer.isBuffer(bin) && bin.equals(Buffer.from([0, 1, 2, 255])), 'binary header round-trips')
      // same key -> same partition
      const p = partitionOfKey.get(m.key)
      if (p === undefined) partitionOfKey.set(m.key, m.partition)
      else assert.equal(m.partition, p, `key ${m.key} stayed on one partition`)
      // strictly increasing per key, no duplicates, no gaps
      const prev = lastSeq.get(m.key) ?? -1
      assert.equal(body.seq, prev + 1, `key ${m.key}: expected seq ${prev + 1}, got ${body.seq}`)
      lastSeq.set(m.key, body.seq)
    }
    for (const key of KEYS) assert.equal(lastSeq.get(key), PER_KEY - 1)
    assert.ok(new Set(partitionOfKey.values()).size > 1, 'keys spread over more than one partition')
  })

  test('on disk: batches are GZIP-compressed and carry idempotent producer ids/sequences', () => {
    let records = 0
    for (let p = 0; p < 3; p++) {
      const dir = path.join(broker.dataDir, KAFKA_LOG_DIR, `${topic}-${p}`)
      for (const f of fs.readdirSync(dir).filter(n => n.endsWith('.log'))) {
        let nextSeq = 0
        for (const h of readBatchHeaders(path.join(dir, f))) {
          assert.equal(h.codec, 1, `partition ${p} batch @${h.baseOffset}: codec 1 (gzip)`)
          assert.ok(h.producerId >= 0n, `partition ${p} batch @${h.baseOffset}: has a producer id`)
          assert.equal(h.baseSequence, nextSeq, `partition ${p}: contiguous producer sequence numbers`)
          nextSeq += h.count
          records += h.count
        }
      }
    }
    assert.equal(records, KEYS.length * PER_KEY)
  })

  test('admin fetchTopicOffsets / fetchOffsets match what was produced and committed', async () => {
    const total = KEYS.length * PER_KEY
    const topicOffsets = await admin.fetchTopicOffsets(topic)
    assert.equal(topicOffsets.length, 3)
    const high = topicOffsets.reduce((n, p) => n + Number(p.high), 0)
    const low = topicOffsets.reduce((n, p) => n + Number(p.low), 0)
    assert.equal(low, 0)
    assert.equal(high, total, 'idempotent producer wrote each message exactly once')

    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] })
    assert.ok(committed)
    assert.equal(committed.topic, topic)
    assert.equal(committed.partitions.length, 3)
    for (const p of committed.partitions) {
      const hw = topicOffsets.find(o => o.partition === p.partition)!
      assert.equal(p.offset, hw.high, `partition ${p.partition}: committed offset == high watermark`)
    }

    const groups = await admin.listGroups()
    assert.ok(groups.groups.some(g => g.groupId === groupId))
  })

  for (const mechanism of ['scram-sha-256', 'scram-sha-512'] as const) {
    test(`SASL ${mechanism}: right password works, wrong password is rejected`, async () => {
      const { user, password } = broker.scram
      const good = broker.client({ brokers: broker.saslBrokers, sasl: scram(mechanism, user, password) })
      const a = good.admin()
      await a.connect()
      try {
        const cluster = await a.describeCluster()
        assert.equal(cluster.brokers.length, 1)
        assert.equal(cluster.brokers[0]!.port, broker.saslPort, 'advertised SASL listener is returned')
      } finally {
        await a.disconnect()
      }
      const p = good.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner
      })
      await p.connect()
      try {
        const res = await p.send({ topic: `${topic}.sasl`, acks: -1, messages: [{ key: 'k', value: mechanism }] })
        assert.equal(res[0]!.errorCode, 0)
      } finally {
        await p.disconnect()
      }

      const bad = broker.client({
        brokers: broker.saslBrokers,
        sasl: scram(mechanism, user, `${password}-wrong`),
        retry: { retries: 0 }
      })
      const b = bad.admin()
      await assert.rejects(
        () => b.connect(),
        (err: Error) => {
          assert.equal(err.name, 'KafkaJSSASLAuthenticationError', `${err.name}: ${err.message}`)
          assert.match(err.message, /authentication failed/i)
          return true
        }
      )
      await b.disconnect().catch(() => {})

      const unknown = broker.client({
        brokers: broker.saslBrokers,
        sasl: scram(mechanism, 'nobody', password),
        retry: { retries: 0 }
      })
      const u = unknown.admin()
      await assert.rejects(() => u.connect(), { name: 'KafkaJSSASLAuthenticationError' })
      await u.disconnect().catch(() => {})
    })
  }

  test('auto.create.topics: producing to an unknown topic creates it with 3 partitions', async () => {
    const md = await admin.fetchTopicMetadata({ topics: [`${topic}.sasl`] })
    assert.equal(md.topics[0]!.partitions.length, 3)
  })

  test('stop() then start(): same ports, data survives, producing works again', async () => {
    await admin.disconnect()
    const before = { brokers: [...broker.brokers], saslBrokers: [...broker.saslBrokers] }

    await broker.stop()
    assert.equal(broker.running, false)

    // While the broker is down a send must fail (not hang).
    const down = broker.client({
      retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 200 },
      connectionTimeout: 500
    })
    const downProducer = down.producer({ createPartitioner: Partitioners.DefaultPartitioner })
    await assert.rejects(async () => {
      await downProducer.connect()
      await downProducer.send({ topic, acks: -1, messages: [{ key: 'dev-a', value: 'lost' }] })
    })
    await downProducer.disconnect().catch(() => {})

    const t0 = Date.now()
    await broker.start()
    console.log(`# restart after stop() took ${Date.now() - t0} ms`)
    assert.equal(broker.running, true)
    assert.deepEqual({ brokers: broker.brokers, saslBrokers: broker.saslBrokers }, before)

    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner
    })
    await producer.connect()
    try {
      const res = await producer.send({
        topic,
        acks: -1,
        compression: CompressionTypes.GZIP,
        messages: KEYS.map(key => ({
          key,
          value: JSON.stringify({ device: key, seq: PER_KEY, t: Date.now() }),
          headers: { 'holdfast-seq': String(PER_KEY) }
        }))
      })
      for (const r of res) assert.equal(r.errorCode, 0)
    } finally {
      await producer.disconnect()
    }

    admin = kafka.admin()
    await admin.connect()
    const offsets = await admin.fetchTopicOffsets(topic)
    const high = offsets.reduce((n, p) => n + Number(p.high), 0)
    assert.equal(high, KEYS.length * (PER_KEY + 1), 'pre-outage data kept, new data appended')

    // The group resumes from its committed offsets: only the post-restart messages arrive.
    const got = await consumeAll(kafka, topic, groupId, KEYS.length)
    assert.deepEqual(
      got.map(m => header(m.headers, 'holdfast-seq')),
      KEYS.map(() => String(PER_KEY))
    )
  })

  test('kill() (SIGKILL) then start(): broker recovers and SCRAM still works', async () => {
    await admin.disconnect()
    await broker.kill()
    assert.equal(broker.running, false)
    const t0 = Date.now()
    await broker.start()
    console.log(`# restart after kill() took ${Date.now() - t0} ms`)

    const { user, password } = broker.scram
    const sasl = broker.client({
      brokers: broker.saslBrokers,
      sasl: { mechanism: 'scram-sha-512', username: user, password }
    })
    const producer = sasl.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner
    })
    await producer.connect()
    try {
      const res = await producer.send({
        topic,
        acks: -1,
        compression: CompressionTypes.GZIP,
        messages: [{ key: 'dev-a', value: 'after-kill' }]
      })
      assert.equal(res[0]!.errorCode, 0)
    } finally {
      await producer.disconnect()
    }
    admin = kafka.admin()
    await admin.connect()
    const offsets = await admin.fetchTopicOffsets(topic)
    assert.equal(
      offsets.reduce((n, p) => n + Number(p.high), 0),
      KEYS.length * (PER_KEY + 1) + 1
    )
  })
})
