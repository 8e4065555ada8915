/**
 * Follows the compacted config topic for this gateway's layer keys: its own id, its groups
 * (`group:site=plant-7`) and the fleet default `*`.
 *
 * Each (re)start reads the topic from the beginning under a fresh consumer group (nothing is
 * committed: the topic is small, compacted to one document per key, and a fresh group never waits
 * for a dead predecessor's session to expire). Until it has read up to the end offsets it saw at
 * start, it only keeps the latest value per key; then it hands them over at once (`caughtUp`), so
 * a gateway-specific document is never shadowed by a default read first. After that, every
 * message is handed over as it comes (`message`). Errors restart it after a delay of at most
 * RETRY_MAX_MS, so a gateway started before the topic exists picks it up within seconds of its
 * creation; it never creates the topic (the operator CLI creates it compacted).
 */
import { randomUUID } from 'node:crypto'
import type { Consumer } from 'kafkajs'
import type { Config } from '../config/schema.js'
import type { Logger } from '../log.js'
import { describe, kafkaClient, withTimeout } from '../kafka/client.js'

export interface WatcherOptions {
  gatewayId: string
  topic: string
  /** The message keys that concern this gateway. */
  relevant: (key: string) => boolean
  log: Logger
  /** The latest value per relevant key (null = tombstone) when the topic has been read to its end. */
  caughtUp: (latest: Map<string, Buffer | null>) => void
  message: (key: string, value: Buffer | null) => void
}

/** If the end offsets seen at start are not reached after this long without progress, carry on anyway. */
const CATCH_UP_IDLE_MS = 5_000
/** Longest pause between attempts to read the topic (one metadata request each). */
const RETRY_MAX_MS = 3_000

export class ConfigWatcher {
  private kafka: Config['kafka']
  private consumer: Consumer | null = null
  private stopped = false
  private generation = 0
  private wake: (() => void) | null = null
  private running: Promise<void> = Promise.resolve()

  constructor(
    private readonly o: WatcherOptions,
    kafka: Config['kafka']
  ) {
    this.kafka = kafka
  }

  start(): void {
    this.running = this.supervise()
  }

  /** New Kafka settings: reconnect with them and read the topic again. */
  restart(kafka: Config['kafka']): void {
    this.kafka = kafka
    this.generation++
    this.wake?.()
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.wake?.()
    await this.running
  }

  private async supervise(): Promise<void> {
    let delay = 1000
    let lastError = ''
    while (!this.stopped) {
      const generation = this.generation
      let progressed = false
      try {
        progressed = await this.runOnce(generation)
      } catch (err) {
        // Logged at warn when the reason changes (a topic not created yet is normal before the first push).
        const why = describe(err)
        const fields = { code: 'HF_ERR_REMOTE_WATCH', topic: this.o.topic, err: why }
        if (why !== lastError) this.o.log.warn(fields, 'config topic not readable; retrying')
        else this.o.log.debug(fields, 'config topic not readable; retrying')
        lastError = why
      }
      await this.consumer?.disconnect().catch(() => {})
      this.consumer = null
      if (this.stopped) break
      if (generation !== this.generation) {
        delay = 1000
        continue
      }
      delay = progressed ? 1000 : Math.min(delay * 2, RETRY_MAX_MS)
      await this.pause(delay)
    }
  }

  private async pause(ms: number): Promise<void> {
    await new Promise<void>(resolve => {
      const timer = setTimeout(() => {
        this.wake = null
        resolve()
      }, ms)
      this.wake = () => {
        clearTimeout(timer)
        this.wake = null
        resolve()
      }
    })
  }

  /** One consumer's life: resolves when it crashed, the settings changed or the watcher stops. True if it got as far as reading. */
  private async runOnce(generation: number): Promise<boolean> {
    const { gatewayId, topic, log } = this.o
    const kafka = kafkaClient(this.kafka, 'config')
    const budget = this.kafka.requestTimeoutMs * 2
    const admin = kafka.admin({ retry: { retries: 0 } })
    let ends: Array<{ partition: number; high: string; low: string }>
    try {
      await withTimeout(admin.connect(), budget, 'connect')
      ends = await withTimeout(admin.fetchTopicOffsets(topic), budget, 'offsets')
    } finally {
      await admin.disconnect().catch(() => {})
    }
    // Partition → last offset to read before the picture is complete.
    const need = new Map<number, bigint>()
    for (const e of ends) if (BigInt(e.high) > BigInt(e.low)) need.set(e.partition, BigInt(e.high) - 1n)
    const consumer = kafka.consumer({
      groupId: `holdfast-config-${gatewayId}-${randomUUID().slice(0, 8)}`,
      allowAutoTopicCreation: false,
      retry: { retries: 2, initialRetryTime: 300, maxRetryTime: 2000, restartOnFailure: async () => false }
    })
    this.consumer = consumer
    let ended!: () => void
    const end = new Promise<void>(resolve => {
      ended = resolve
    })
    consumer.on(consumer.events.CRASH, e => {
      log.warn({ code: 'HF_ERR_REMOTE_WATCH', err: describe(e.payload.error) }, 'config topic consumer stopped')
      ended()
    })
    const onWake = (): void => ended()
    const latest = new Map<string, Buffer | null>()
    let caughtUp = false
    let lastProgress = Date.now()
    let joined = false
    consumer.on(consumer.events.GROUP_JOIN, () => {
      joined = true
      lastProgress = Date.now()
    })
    const finishCatchUp = (): void => {
      if (caughtUp) return
      caughtUp = true
      log.info({ topic, keys: [...latest.keys()] }, 'config topic read to its end')
      this.o.caughtUp(latest)
    }
    await withTimeout(consumer.connect(), budget, 'connect')
    await withTimeout(consumer.subscribe({ topic, fromBeginning: true }), budget, 'subscribe')
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (generation !== this.generation || this.stopped) return
        lastProgress = Date.now()
        const key = message.key?.toString('utf8')
        if (key !== undefined && this.o.relevant(key)) {
          if (caughtUp) this.o.message(key, message.value)
          else latest.set(key, message.value)
        }
        const last = need.get(partition)
        if (!caughtUp && last !== undefined && BigInt(message.offset) >= last) {
          need.delete(partition)
          if (need.size === 0) finishCatchUp()
        }
      }
    })
    if (need.size === 0) finishCatchUp()
    const idle = setInterval(() => {
      if (!caughtUp && joined && Date.now() - lastProgress > CATCH_UP_IDLE_MS) {
        log.warn(
          { topic, partitions: [...need.keys()] },
          'config topic: end offsets not reached; going on with what was read'
        )
        finishCatchUp()
      }
      if (generation !== this.generation || this.stopped) onWake()
    }, 250)
    const prevWake = this.wake
    this.wake = onWake
    try {
      await end
    } finally {
      clearInterval(idle)
      if (this.wake === onWake) this.wake = prevWake
    }
    return true
  }
}
