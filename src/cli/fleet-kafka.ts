/**
 * The Kafka side of `holdfast fleet`: connection settings from flags, reading a topic from its
 * beginning to its end, a topic's size limit and clean-up policy — with every broker failure
 * turned into one coded line (HF_ERR_FLEET_KAFKA) rather than a stack trace.
 */
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import kafkajs, { type Kafka } from 'kafkajs'
import type { Config } from '../config/schema.js'
import { HoldfastError, isHoldfastError } from '../errors.js'
import { deleteGroupQuietly, describe, withTimeout } from '../kafka/client.js'

export const KAFKA_FLAGS = [
  'brokers',
  'ssl',
  'ca-file',
  'sasl-mechanism',
  'sasl-username',
  'sasl-password-file',
  'request-timeout-ms'
]

/**
 * What `fleet sign` assumes the config topic takes when it cannot ask the cluster: Kafka's own
 * default `max.message.bytes` (1 MiB + 12 bytes of record-batch overhead), less that overhead.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_576

export type Flags = Record<string, string | true>

export function str(flags: Flags, name: string, usage: (msg: string) => Error): string | undefined {
  const v = flags[name]
  if (v === true) throw usage(`--${name} needs a value`)
  return v
}

export function kafkaSettings(flags: Flags, usage: (msg: string) => Error): Config['kafka'] {
  const brokers = (str(flags, 'brokers', usage) ?? '')
    .split(',')
    .map(b => b.trim())
    .filter(b => b !== '')
  if (brokers.length === 0) throw usage('--brokers HOST:PORT[,…] is needed')
  const mechanism = (str(flags, 'sasl-mechanism', usage) ?? 'none').toLowerCase()
  if (!['none', 'plain', 'scram-sha-256', 'scram-sha-512'].includes(mechanism))
    throw usage(`--sasl-mechanism must be none, plain, scram-sha-256 or scram-sha-512 (got ${mechanism})`)
  const pwFile = str(flags, 'sasl-password-file', usage)
  return {
    brokers,
    topic: '',
    clientId: 'holdfast-fleet',
    ssl: flags.ssl === true,
    caFile: str(flags, 'ca-file', usage) ?? '',
    saslMechanism: mechanism as Config['kafka']['saslMechanism'],
    saslUsername: str(flags, 'sasl-username', usage) ?? '',
    saslPassword: pwFile !== undefined ? (readFileSync(pwFile, 'utf8').split(/\r?\n/)[0] ?? '') : '',
    requestTimeoutMs: Number(str(flags, 'request-timeout-ms', usage) ?? 10_000)
  }
}

/** Run a broker call; any failure becomes one HF_ERR_FLEET_KAFKA line naming what was being done. */
export async function brokerCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (isHoldfastError(err)) throw err
    throw new HoldfastError('HF_ERR_FLEET_KAFKA', `${what}: ${describe(err)}`)
  }
}

export interface TopicFacts {
  exists: boolean
  /** `max.message.bytes` and `cleanup.policy` as the cluster reports them (null when it does not). */
  maxMessageBytes: number | null
  cleanupPolicy: string | null
}

export async function topicFacts(client: Kafka, k: Config['kafka'], topic: string): Promise<TopicFacts> {
  const budget = k.requestTimeoutMs * 2
  const admin = client.admin({ retry: { retries: 0 } })
  return await brokerCall(`reading topic ${topic} on ${k.brokers.join(',')}`, async () => {
    await withTimeout(admin.connect(), budget, 'connect')
    try {
      const topics = await withTimeout(admin.listTopics(), budget, 'list topics')
      if (!topics.includes(topic)) return { exists: false, maxMessageBytes: null, cleanupPolicy: null }
      const r = await withTimeout(
        admin.describeConfigs({
          resources: [
            {
              type: kafkajs.ConfigResourceTypes.TOPIC,
              name: topic,
              configNames: ['max.message.bytes', 'cleanup.policy']
            }
          ],
          includeSynonyms: false
        }),
        budget,
        'describe topic'
      )
      const entries = r.resources[0]?.configEntries ?? []
      const get = (n: string): string | null => entries.find(e => e.configName === n)?.configValue ?? null
      const max = get('max.message.bytes')
      return { exists: true, maxMessageBytes: max === null ? null : Number(max), cleanupPolicy: get('cleanup.policy') }
    } finally {
      await admin.disconnect().catch(() => {})
    }
  })
}

export interface TopicMessage {
  key: string | null
  value: Buffer | null
  offset: string
  timestamp: string
}

/**
 * Every message on `topic` from its beginning to the end offsets seen at start (or until no
 * message came for `idleMs`). An absent topic yields none; `exists` says which it was.
 */
export async function readTopic(
  client: Kafka,
  k: Config['kafka'],
  topic: string,
  idleMs: number
): Promise<{ exists: boolean; messages: TopicMessage[] }> {
  const budget = k.requestTimeoutMs * 2
  return await brokerCall(`reading topic ${topic} on ${k.brokers.join(',')}`, async () => {
    const admin = client.admin({ retry: { retries: 0 } })
    let ends: Array<{ partition: number; high: string; low: string }>
    await withTimeout(admin.connect(), budget, 'connect')
    try {
      const topics = await withTimeout(admin.listTopics(), budget, 'list topics')
      if (!topics.includes(topic)) return { exists: false, messages: [] }
      ends = await withTimeout(admin.fetchTopicOffsets(topic), budget, 'offsets')
    } finally {
      await admin.disconnect().catch(() => {})
    }
    const need = new Map<number, bigint>()
    for (const e of ends) if (BigInt(e.high) > BigInt(e.low)) need.set(e.partition, BigInt(e.high) - 1n)
    const messages: TopicMessage[] = []
    if (need.size === 0) return { exists: true, messages }
    const groupId = `holdfast-fleet-${randomUUID()}`
    const consumer = client.consumer({ groupId, allowAutoTopicCreation: false })
    await withTimeout(consumer.connect(), budget, 'connect')
    let finish!: () => void
    const done = new Promise<void>(resolve => {
      finish = resolve
    })
    let last = Date.now()
    const timer = setInterval(() => {
      if (Date.now() - last > idleMs) finish()
    }, 100)
    try {
      await consumer.subscribe({ topic, fromBeginning: true })
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          last = Date.now()
          messages.push({
            key: message.key?.toString('utf8') ?? null,
            value: message.value,
            offset: message.offset,
            timestamp: message.timestamp
          })
          const end = need.get(partition)
          if (end !== undefined && BigInt(message.offset) >= end) need.delete(partition)
          if (need.size === 0) finish()
        }
      })
      await done
    } finally {
      clearInterval(timer)
      await consumer.disconnect().catch(() => {})
      await deleteGroupQuietly(client, groupId, budget)
    }
    return { exists: true, messages }
  })
}
