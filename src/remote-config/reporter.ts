/**
 * Reports to the status topic (key = gateway id, JSON values): events — applied, confirmed,
 * rejected, rolled-back, ignored, each with key, version and reason — and a heartbeat, sent every
 * interval and with every event, so a state change (pending, confirmed) is seen when it happens.
 *
 * Events are queued durably (`<dataDir>/remote-outbox.json`, written atomically and synced off the
 * broker's thread), sent only once that write is done and removed only after Kafka acknowledged
 * them, so a rollback that happened while the uplink was unreachable is reported once it is
 * reachable again, even across restarts. Heartbeats are not queued: a newer one replaces a lost one.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Producer } from 'kafkajs'
import type { Config } from '../config/schema.js'
import type { Logger } from '../log.js'
import { writeFileAtomicAsync } from '../platform/atomic-write.js'
import { describe, kafkaClient, withTimeout } from '../kafka/client.js'

export type EventType = 'applied' | 'confirmed' | 'rejected' | 'rolled-back' | 'ignored'

export interface StatusEvent {
  type: EventType
  gatewayId: string
  at: string
  /** Outbox sequence number: increases per gateway, lets a reader spot a gap. */
  seq: number
  [field: string]: unknown
}

/** Oldest events beyond this are dropped from the outbox (and the next event says how many). */
const OUTBOX_MAX = 500
const RETRY_MIN_MS = 1000
const RETRY_MAX_MS = 15_000

export const outboxPath = (dataDir: string): string => join(dataDir, 'remote-outbox.json')

export interface ReporterOptions {
  gatewayId: string
  topic: string
  dataDir: string
  heartbeatIntervalMs: number
  heartbeat: () => Record<string, unknown>
  log: Logger
}

export class Reporter {
  private readonly file: string
  private outbox: { nextSeq: number; lost: number; events: StatusEvent[] }
  private kafka: Config['kafka'] | null = null
  private producer: Producer | null = null
  private sending: Promise<void> | null = null
  private timer: NodeJS.Timeout | undefined
  private retryTimer: NodeJS.Timeout | undefined
  private retryMs = RETRY_MIN_MS
  private stopped = false
  private generation = 0
  private wantHeartbeat = false
  /** Events up to this outbox seq were written to the file: only they are sent. */
  private savedThrough = 0
  /** The file's writes, one at a time and in order. */
  private saving: Promise<void> = Promise.resolve()
  /** Last time the status topic took a message (for tests and the heartbeat). */
  lastSentMs = 0
  lastError: string | null = null

  constructor(private readonly o: ReporterOptions) {
    this.file = outboxPath(o.dataDir)
    this.outbox = { nextSeq: 1, lost: 0, events: [] }
    try {
      const saved = JSON.parse(readFileSync(this.file, 'utf8')) as typeof this.outbox
      if (Array.isArray(saved.events))
        this.outbox = { nextSeq: saved.nextSeq ?? 1, lost: saved.lost ?? 0, events: saved.events }
    } catch {}
    this.savedThrough = this.outbox.nextSeq - 1
  }

  /** Queue an event durably; it is sent as soon as the status topic can be reached. */
  event(type: EventType, fields: Record<string, unknown>): StatusEvent {
    const e: StatusEvent = {
      ...fields,
      type,
      gatewayId: this.o.gatewayId,
      at: new Date().toISOString(),
      seq: this.outbox.nextSeq++
    }
    if (this.outbox.lost > 0) e.reportsLost = this.outbox.lost
    this.outbox.events.push(e)
    if (this.outbox.events.length > OUTBOX_MAX)
      this.outbox.lost += this.outbox.events.splice(0, this.outbox.events.length - OUTBOX_MAX).length
    this.wantHeartbeat = true
    // Sent once it is in the file (save() kicks the sender).
    this.save()
    return e
  }

  pending(): number {
    return this.outbox.events.length
  }

  /** Start, or go on with new Kafka settings (the status topic is on the uplink's cluster). */
  use(kafka: Config['kafka']): void {
    const first = this.kafka === null
    this.kafka = kafka
    this.generation++
    // A send in flight on the old producer is let finish (disconnecting would fail it after Kafka
    // may have taken it, and the events would be reported twice).
    const old = this.producer
    this.producer = null
    void (this.sending ?? Promise.resolve()).finally(() => old?.disconnect().catch(() => {}))
    this.retryMs = RETRY_MIN_MS
    if (first) {
      this.timer = setInterval(() => this.send(true), this.o.heartbeatIntervalMs)
      this.timer.unref()
      // A first heartbeat soon after start: operators see the gateway come up.
      setTimeout(() => this.send(true), 1000).unref()
    }
    this.kick()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    clearTimeout(this.retryTimer)
    await this.sending?.catch(() => {})
    await this.saving
    await this.producer?.disconnect().catch(() => {})
  }

  private kick(): void {
    if (this.outbox.events.some(e => e.seq <= this.savedThrough)) this.send(false)
  }

  /** Write the outbox as it is now, after the writes before it; then send what it holds. */
  private save(): void {
    const text = JSON.stringify(this.outbox) + '\n'
    const through = this.outbox.nextSeq - 1
    this.saving = this.saving
      .then(() => writeFileAtomicAsync(this.file, text))
      .catch(err => {
        // Not in the file: sent all the same (as before a restart, it is only in memory).
        this.o.log.error(
          { code: 'HF_ERR_REMOTE_REPORT', file: this.file, err: describe(err) },
          'report outbox not saved'
        )
      })
      .then(() => {
        this.savedThrough = Math.max(this.savedThrough, through)
        this.kick()
      })
  }

  /** Send the queued events (and a heartbeat if asked); one send at a time. */
  private send(heartbeat: boolean): void {
    if (this.stopped || this.kafka === null) return
    if (this.sending !== null) {
      if (heartbeat) this.wantHeartbeat = true
      return
    }
    const kafka = this.kafka
    const generation = this.generation
    const events = this.outbox.events.filter(e => e.seq <= this.savedThrough)
    const beat = heartbeat || this.wantHeartbeat
    this.wantHeartbeat = false
    if (events.length === 0 && !beat) return
    const messages = events.map(e => ({
      key: this.o.gatewayId,
      value: JSON.stringify(e),
      headers: { 'hf-type': e.type as string }
    }))
    if (beat) {
      const hb = {
        type: 'heartbeat',
        gatewayId: this.o.gatewayId,
        at: new Date().toISOString(),
        intervalMs: this.o.heartbeatIntervalMs,
        ...this.o.heartbeat(),
        reportsQueued: events.length
      }
      messages.push({ key: this.o.gatewayId, value: JSON.stringify(hb), headers: { 'hf-type': 'heartbeat' } })
    }
    let producer = this.producer
    this.sending = (async () => {
      const budget = kafka.requestTimeoutMs * 2
      if (producer === null) {
        producer = kafkaClient(kafka, 'status').producer({
          allowAutoTopicCreation: true,
          retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 }
        })
        this.producer = producer
        await withTimeout(producer.connect(), budget, 'connect')
      }
      await withTimeout(
        producer.send({ topic: this.o.topic, acks: -1, timeout: kafka.requestTimeoutMs, messages }),
        budget,
        'produce'
      )
    })()
      .then(
        () => {
          this.lastSentMs = Date.now()
          this.lastError = null
          this.retryMs = RETRY_MIN_MS
          if (events.length > 0) {
            const sent = new Set(events.map(e => e.seq))
            this.outbox.events = this.outbox.events.filter(e => !sent.has(e.seq))
            this.outbox.lost = 0
            this.save()
            this.o.log.info(
              { events: events.map(e => `${e.type} v${String(e.version)}`), topic: this.o.topic },
              'remote config events reported'
            )
          }
        },
        err => {
          this.lastError = describe(err)
          if (this.producer === producer) this.producer = null
          void producer?.disconnect().catch(() => {})
          if (events.length > 0)
            this.o.log.warn(
              { code: 'HF_ERR_REMOTE_REPORT', err: this.lastError, queued: events.length, retryInMs: this.retryMs },
              'status topic not reachable; reports stay queued'
            )
          clearTimeout(this.retryTimer)
          this.retryTimer = setTimeout(() => this.kick(), this.retryMs)
          this.retryTimer.unref()
          this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS)
        }
      )
      .finally(() => {
        this.sending = null
        if (generation !== this.generation || this.wantHeartbeat) this.send(this.wantHeartbeat)
        else if (this.outbox.events.some(e => !events.includes(e))) this.kick()
      })
  }
}
