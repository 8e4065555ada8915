/**
 * The uplink's Kafka side: an idempotent producer with acks=all and a metadata probe, on a
 * client from kafka/client.ts (short timeouts; retrying is the forwarder's job, with backoff).
 */
import { CompressionTypes, type Producer, type Admin, type Message } from 'kafkajs'
import type { Config } from '../config/schema.js'
import { kafkaClient, withTimeout } from '../kafka/client.js'
import { codedUplinkError } from '../kafka/uplink-error.js'

export interface Uplinker {
  send: (messages: Message[], compression: 'none' | 'gzip') => Promise<void>
  probe: () => Promise<void>
  close: () => Promise<void>
}

export function createUplinker(k: Config['kafka']): Uplinker {
  const kafka = kafkaClient(k)
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
    async send(messages, compression) {
      try {
        if (producer === null) {
          const p = kafka.producer({
            idempotent: true,
            maxInFlightRequests: 1,
            retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 }
          })
          producer = p
          await withTimeout(p.connect(), budget, 'connect')
        }
        await withTimeout(
          producer.send({
            topic: k.topic,
            acks: -1,
            timeout: k.requestTimeoutMs,
            compression: compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
            messages
          }),
          budget,
          'produce'
        )
      } catch (err) {
        await reset()
        throw codedUplinkError(err)
      }
    },
    async probe() {
      try {
        if (admin === null) {
          const a = kafka.admin({ retry: { retries: 0 } })
          admin = a
          await withTimeout(a.connect(), budget, 'connect')
        }
        await withTimeout(admin.fetchTopicMetadata({ topics: [k.topic] }), budget, 'metadata')
      } catch (err) {
        await reset()
        throw codedUplinkError(err)
      }
    },
    close: reset
  }
}
