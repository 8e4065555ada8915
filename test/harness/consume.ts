/** Test topics on the real broker: create one, read it back and decode every batch, in partition order. */
import type { KafkaBroker } from './kafka.js'
import { decodeMessage, type DecodedReading } from '../../src/codec/batch.js'
import type { ControlRecord } from '../../src/codec/control.js'

export interface Consumed {
  partition: number
  offset: string
  timestamp: number
  headers: Record<string, string>
  key: string
  /** raw, rollup or control (a control record has no readings). */
  type: 'raw' | 'rollup' | 'control'
  /** Priority class of the batch ('' for control records). */
  cls: string
  readings: DecodedReading[]
  control: ControlRecord | null
}

/**
 * Create a topic and wait until every partition has a leader. kafkajs' own `waitForLeaders` gives up on
 * the UNKNOWN_TOPIC_OR_PARTITION a busy broker answers for a while after the create: poll metadata instead.
 */
export async function createTopicReady(
  kafka: KafkaBroker,
  spec: { topic: string; numPartitions: number; configEntries?: Array<{ name: string; value: string }> },
  timeoutMs = 60_000
): Promise<void> {
  const admin = kafka.client().admin()
  await admin.connect()
  try {
    await admin.createTopics({ topics: [{ ...spec, replicationFactor: 1 }], waitForLeaders: false })
    const deadline = Date.now() + timeoutMs
    for (;;) {
      try {
        const [t] = (await admin.fetchTopicMetadata({ topics: [spec.topic] })).topics
        if (t !== undefined && t.partitions.length === spec.numPartitions && t.partitions.every(p => p.leader >= 0))
          return
      } catch (err) {
        if (Date.now() > deadline) throw err
      }
      if (Date.now() > deadline)
        throw new Error(`topic ${spec.topic}: partitions without a leader after ${timeoutMs} ms`)
      await new Promise(resolve => setTimeout(resolve, 250))
    }
  } finally {
    await admin.disconnect()
  }
}

/** A new topic (`<prefix>-<time>-<n>`) created while the broker is up, as a fleet's admin would. */
let topicN = 0
export async function createTopic(kafka: KafkaBroker, prefix: string, numPartitions = 3): Promise<string> {
  const topic = `${prefix}-${Date.now()}-${topicN++}`
  await createTopicReady(kafka, { topic, numPartitions })
  return topic
}

/** Consume until `until(distinct event ids seen, batches so far)` is true or the timeout passes. */
export async function consumeAll(
  kafka: KafkaBroker,
  topic: string,
  opts: { until: (readings: number, batches: Consumed[]) => boolean; timeoutMs?: number }
): Promise<Consumed[]> {
  const consumer = kafka.client().consumer({ groupId: `test-${Date.now()}-${Math.random().toString(36).slice(2)}` })
  const out: Consumed[] = []
  const ids = new Set<string>()
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    let finish!: () => void
    const done = new Promise<void>(resolve => {
      finish = resolve
    })
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v)
        const m = decodeMessage(message.value!, message.headers as Record<string, Buffer>)
        const readings = m.readings
        out.push({
          partition,
          offset: message.offset,
          timestamp: Number(message.timestamp),
          headers,
          key: message.key?.toString() ?? '',
          type: m.type,
          cls: readings[0]?.cls ?? '',
          readings,
          control: m.control
        })
        for (const r of readings) ids.add(r.eventId)
        if (opts.until(ids.size, out)) finish()
      }
    })
    // The timer is cleared once done: a pending one would keep the test file's process alive for the full timeout.
    let timer: NodeJS.Timeout | undefined
    await Promise.race([done, new Promise(resolve => (timer = setTimeout(resolve, opts.timeoutMs ?? 60_000)))])
    clearTimeout(timer)
  } finally {
    await consumer.disconnect()
  }
  return out
}

/** First occurrence per event id, keeping partition order. */
export function dedupe(batches: Consumed[]): { unique: DecodedReading[]; duplicates: number } {
  const seen = new Set<string>()
  const unique: DecodedReading[] = []
  let duplicates = 0
  for (const b of batches) {
    for (const r of b.readings) {
      if (seen.has(r.eventId)) {
        duplicates++
        continue
      }
      seen.add(r.eventId)
      unique.push(r)
    }
  }
  return { unique, duplicates }
}

/** Gateway flags for an uplink to `kafka`'s `topic` that notices an outage and a return within seconds. */
export function uplinkArgs(kafka: KafkaBroker, topic: string): string[] {
  return [
    '--kafka-brokers',
    kafka.brokers.join(','),
    '--kafka-topic',
    topic,
    '--kafka-request-timeout-ms',
    '2000',
    '--uplink-backoff-max-ms',
    '1000',
    '--uplink-probe-interval-ms',
    '1000'
  ]
}
