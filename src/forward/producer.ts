/**
 * The Kafka side: a kafkajs client built from config (TLS, SASL), an idempotent producer
 * with acks=all, and a metadata probe. Timeouts are short on purpose: a dead link must be
 * noticed in seconds, and retrying is the forwarder's job (with backoff), not kafkajs'.
 */
import { readFileSync } from 'node:fs'
import { Kafka, logLevel, CompressionTypes, type Producer, type Admin, type Message, type SASLOptions } from 'kafkajs'
import type { Config } from '../config/schema.js'

export interface Uplinker {
  send: (messages: Message[], compression: 'none' | 'gzip') => Promise<void>
  probe: () => Promise<void>
  close: () => Promise<void>
}

function sasl (k: Config['kafka']): SASLOptions | undefined {
  const { saslUsername: username, saslPassword: password } = k
  switch (k.saslMechanism) {
    case 'none': return undefined
    case 'plain': return { mechanism: 'plain', username, password }
    case 'scram-sha-256': return { mechanism: 'scram-sha-256', username, password }
    case 'scram-sha-512': return { mechanism: 'scram-sha-512', username, password }
  }
}

const withTimeout = async <T>(p: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms) })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export function createUplinker (k: Config['kafka']): Uplinker {
  const kafka = new Kafka({
    clientId: k.clientId,
    brokers: k.brokers,
    ssl: k.ssl ? (k.caFile !== '' ? { ca: [readFileSync(k.caFile, 'utf8')] } : true) : undefined,
    sasl: sasl(k),
    connectionTimeout: Math.min(3000, k.requestTimeoutMs),
    authenticationTimeout: Math.min(3000, k.requestTimeoutMs),
    requestTimeout: k.requestTimeoutMs,
    retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 },
    logLevel: logLevel.NOTHING
  })
  let producer: Producer | null = null
  let admin: Admin | null = null
  // After a failure the producer is thrown away: a fresh one reconnects cleanly and
  // gets a new idempotence session, instead of kafkajs' minutes-long internal retries.
  const reset = async (): Promise<void> => {
    const p = producer
    const a = admin
    producer = null
    admin = null
    await Promise.allSettled([p?.disconnect(), a?.disconnect()])
  }
  const budget = k.requestTimeoutMs * 2

  return {
    async send (messages, compression) {
      try {
        if (producer === null) {
          const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 } })
          producer = p
          await withTimeout(p.connect(), budget, 'connect')
        }
        await withTimeout(producer.send({ topic: k.topic, acks: -1, timeout: k.requestTimeoutMs, compression: compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None, messages }), budget, 'produce')
      } catch (err) {
        await reset()
        throw err
      }
    },
    async probe () {
      try {
        if (admin === null) {
          const a = kafka.admin({ retry: { retries: 0 } })
          admin = a
          await withTimeout(a.connect(), budget, 'connect')
        }
        await withTimeout(admin.fetchTopicMetadata({ topics: [k.topic] }), budget, 'metadata')
      } catch (err) {
        await reset()
        throw err
      }
    },
    close: reset
  }
}
