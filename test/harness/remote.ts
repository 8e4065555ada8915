/** Remote configuration in tests: operator keys, signed documents, the config topic and the status topic of a real broker. */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Consumer } from 'kafkajs'
import { createTopicReady } from './consume.js'
import { GatewayProcess, type GatewayOptions } from './gateway.js'
import type { KafkaBroker } from './kafka.js'
import { sleep, waitFor } from './wait.js'

export { sleep, waitFor }
import { publicKeyText, signDocument } from '../../src/remote-config/verify.js'

export interface OperatorKey {
  publicKey: string
  privateKey: KeyObject
}

export function operatorKey(): OperatorKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  return { publicKey: publicKeyText(publicKey), privateKey }
}

export function signed(key: OperatorKey, document: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify(signDocument(document, key.privateKey)))
}

let n = 0
export const topicName = (what: string): string => `rc-${what}-${Date.now()}-${n++}`

export async function createTopic(
  kafka: KafkaBroker,
  topic: string,
  opts: { partitions?: number; compact?: boolean } = {}
): Promise<void> {
  await createTopicReady(kafka, {
    topic,
    numPartitions: opts.partitions ?? 1,
    configEntries: opts.compact === true ? [{ name: 'cleanup.policy', value: 'compact' }] : []
  })
}

/** Put a value (or a tombstone) on the config topic under `key`. */
export async function push(kafka: KafkaBroker, topic: string, key: string, value: Buffer | null): Promise<void> {
  const producer = kafka.client().producer()
  await producer.connect()
  try {
    await producer.send({ topic, acks: -1, messages: [{ key, value }] })
  } finally {
    await producer.disconnect()
  }
}

export interface Report {
  type: string
  gatewayId: string
  at: string
  version?: number | null
  reason?: string
  message?: string
  [k: string]: any
}

/** Everything on the status topic, as it arrives. */
export class StatusTopic {
  readonly reports: Report[] = []
  private consumer: Consumer | null = null
  private closed = false
  private constructor(
    private readonly kafka: KafkaBroker,
    readonly topic: string
  ) {}

  static async open(kafka: KafkaBroker, topic: string): Promise<StatusTopic> {
    await createTopic(kafka, topic, { partitions: 1 })
    const st = new StatusTopic(kafka, topic)
    await st.follow()
    return st
  }

  /**
   * Read the topic from its beginning under a fresh group. If the consumer stops for good (a crash
   * kafkajs does not restart, seen on a loaded machine), it starts over and the reports are re-read.
   */
  private async follow(): Promise<void> {
    const consumer = this.kafka
      .client()
      .consumer({ groupId: `rc-status-${Date.now()}-${Math.random().toString(36).slice(2)}` })
    this.consumer = consumer
    consumer.on(consumer.events.CRASH, e => {
      if (e.payload.restart || this.closed) return
      process.stdout.write(`# status topic reader crashed (${String(e.payload.error)}); reading it again\n`)
      void consumer.disconnect().catch(() => {})
      this.reports.length = 0
      void this.follow().catch(err => process.stdout.write(`# status topic reader failed: ${String(err)}\n`))
    })
    await consumer.connect()
    await consumer.subscribe({ topic: this.topic, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (this.consumer === consumer) this.reports.push(JSON.parse(message.value!.toString('utf8')))
      }
    })
  }

  events(gatewayId = 'test-gw'): Report[] {
    return this.reports.filter(r => r.gatewayId === gatewayId && r.type !== 'heartbeat')
  }

  async event(what: string, pred: (r: Report) => boolean, timeoutMs = 30_000): Promise<Report> {
    return await waitFor(what, () => this.reports.find(r => r.type !== 'heartbeat' && pred(r)), timeoutMs)
  }

  async heartbeat(pred: (r: Report) => boolean, timeoutMs = 30_000): Promise<Report> {
    return await waitFor(
      'heartbeat',
      () => [...this.reports].reverse().find(r => r.type === 'heartbeat' && pred(r)),
      timeoutMs
    )
  }

  async close(): Promise<void> {
    this.closed = true
    await this.consumer?.disconnect()
  }
}

/** A gateway config file with remote configuration on. */
export function remoteConfigFile(
  dir: string,
  o: {
    kafka: KafkaBroker
    topic: string
    configTopic: string
    statusTopic: string
    key: OperatorKey
    extra?: Record<string, unknown>
  }
): string {
  const file = join(dir, `holdfast-${n++}.json`)
  // `extra.remote` adds to the remote section; anything else in `extra` replaces its section.
  const { remote, ...extra } = (o.extra ?? {}) as { remote?: Record<string, unknown> }
  writeFileSync(
    file,
    JSON.stringify(
      {
        kafka: { brokers: o.kafka.brokers, topic: o.topic, requestTimeoutMs: 2000 },
        uplink: { backoffMaxMs: 1000, probeIntervalMs: 1000 },
        remote: {
          enabled: true,
          configTopic: o.configTopic,
          statusTopic: o.statusTopic,
          trustedKeys: [o.key.publicKey],
          heartbeatIntervalMs: 1500,
          ...remote
        },
        ...extra
      },
      null,
      2
    )
  )
  return file
}

/** The live settings of a document for the test broker (what a document must restate: it replaces the file's). */
export function uplinkSettings(
  kafka: KafkaBroker,
  topic: string,
  kafkaExtra: Record<string, unknown> = {}
): Record<string, unknown> {
  return {
    kafka: { brokers: kafka.brokers, topic, requestTimeoutMs: 2000, ...kafkaExtra },
    uplink: { backoffMaxMs: 1000, probeIntervalMs: 1000 }
  }
}

export interface RemoteSetup {
  dir: string
  /** Telemetry topic. */
  topic: string
  configTopic: string
  status: StatusTopic
  /** The gateway config file (remote configuration on). */
  file: string
  gw: GatewayProcess
  /** Stop the gateway and close the status reader. */
  close: () => Promise<void>
}

/**
 * The set-up every remote-config test shares: a temp dir, a telemetry topic, a compacted config
 * topic (unless `createConfigTopic: false`), a status topic being read, and a gateway started
 * with remote configuration on.
 */
export async function startRemoteGateway(
  kafka: KafkaBroker,
  o: {
    name: string
    key: OperatorKey
    partitions?: number
    createConfigTopic?: boolean
    extra?: Record<string, unknown>
    gateway?: Omit<GatewayOptions, 'args'>
    args?: string[]
  }
): Promise<RemoteSetup> {
  const dir = mkdtempSync(join(tmpdir(), `hf-rc-${o.name}-`))
  const topic = topicName('telemetry')
  const configTopic = topicName('config')
  await createTopic(kafka, topic, { partitions: o.partitions ?? 1 })
  if (o.createConfigTopic !== false) await createTopic(kafka, configTopic, { compact: true })
  const status = await StatusTopic.open(kafka, topicName('status'))
  const file = remoteConfigFile(dir, {
    kafka,
    topic,
    configTopic,
    statusTopic: status.topic,
    key: o.key,
    extra: o.extra
  })
  const gw = await GatewayProcess.start({ ...o.gateway, args: ['--config', file, ...(o.args ?? [])] })
  return {
    dir,
    topic,
    configTopic,
    status,
    file,
    gw,
    close: async () => {
      await gw.stop()
      await status.close()
    }
  }
}
