/**
 * `holdfast expand`'s engine: batch topic → one JSON record per reading on an output topic, exactly once.
 *
 * Read-process-write in Kafka transactions: for each slice of one input partition's messages, the output
 * records and the consumer group's offset for that slice (sendOffsets → TxnOffsetCommit) are committed
 * in one transaction, so the output holds a slice's records exactly when the group's offset has moved
 * past it. Each input partition has its own transactional id (`<group>:<topic>:<partition>`): whoever
 * takes a partition over (a rebalance, a restarted or SIGKILLed instance) first initialises that id,
 * which fences the previous owner and aborts its open transaction, then re-reads the committed offset
 * and skips what is below it. Consumers of the output read with isolation level read_committed.
 *
 * Duplicates that the gateways themselves put in the batch topic (re-sends under the same event id) are
 * removed per partition by a bounded window (Dedupe); the window starts empty when a partition changes
 * hands, so such a re-send straddling a rebalance can reach the output twice, with one event id.
 */
import {
  CompressionTypes,
  Partitioners,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type Kafka,
  type Producer
} from 'kafkajs'
import { decodeBatch, type DecodedReading } from '../codec/batch.js'
import { HoldfastError } from '../errors.js'
import type { Logger } from '../log.js'
import { Dedupe } from './dedupe.js'
import { expandReading, type BatchContext } from './record.js'

export interface ExpandOptions {
  kafka: Kafka
  inputTopic: string
  outputTopic: string
  groupId: string
  /** Where a group with no committed offset starts: the oldest message (true) or new ones only. */
  fromBeginning: boolean
  dedupeWindow: number
  sessionTimeoutMs: number
  transactionTimeoutMs: number
  /** Input messages per transaction at most. */
  messagesPerTransaction: number
  log: Logger
}

interface PartitionState {
  producer: Producer
  dedupe: Dedupe
  /** The group's committed offset when this instance took the partition (after fencing). */
  floor: bigint
}

/** kafkajs headers allow arrays (a repeated header); the format has each hf-* header once. */
export function headersOf(h: IHeaders | undefined): Record<string, string | Buffer | undefined> {
  const out: Record<string, string | Buffer | undefined> = {}
  for (const [k, v] of Object.entries(h ?? {})) out[k] = Array.isArray(v) ? v[0] : v
  return out
}

const text = (v: string | Buffer | undefined): string | null =>
  v === undefined ? null : typeof v === 'string' ? v : v.toString('utf8')

export class Expander {
  private readonly consumer: Consumer
  private readonly parts = new Map<number, PartitionState>()
  readonly stats = {
    messages: 0,
    readings: 0,
    written: 0,
    duplicates: 0,
    unverified: 0,
    undecodable: 0,
    transactions: 0,
    aborted: 0
  }

  constructor(private readonly o: ExpandOptions) {
    this.consumer = o.kafka.consumer({
      groupId: o.groupId,
      sessionTimeout: o.sessionTimeoutMs,
      heartbeatInterval: Math.max(100, Math.floor(o.sessionTimeoutMs / 10)),
      readUncommitted: false
    })
    this.consumer.on(this.consumer.events.GROUP_JOIN, e => {
      const mine = new Set(e.payload.memberAssignment[o.inputTopic] ?? [])
      o.log.info({ partitions: [...mine].sort((a, b) => a - b) }, 'expand: partitions assigned')
      for (const p of [...this.parts.keys()]) if (!mine.has(p)) void this.close(p)
    })
  }

  async start(): Promise<void> {
    await this.ensureOutputTopic()
    await this.consumer.connect()
    await this.consumer.subscribe({ topic: this.o.inputTopic, fromBeginning: this.o.fromBeginning })
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async payload => await this.eachBatch(payload)
    })
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect()
    await Promise.all([...this.parts.keys()].map(async p => await this.close(p)))
  }

  private async ensureOutputTopic(): Promise<void> {
    const admin = this.o.kafka.admin()
    await admin.connect()
    try {
      const topics = await admin.listTopics()
      if (topics.includes(this.o.outputTopic)) return
      let numPartitions: number | undefined
      if (topics.includes(this.o.inputTopic)) {
        const md = await admin.fetchTopicMetadata({ topics: [this.o.inputTopic] })
        numPartitions = md.topics[0]?.partitions.length
      }
      await admin.createTopics({ topics: [{ topic: this.o.outputTopic, numPartitions }], waitForLeaders: true })
      this.o.log.info({ topic: this.o.outputTopic, numPartitions }, 'expand: output topic created')
    } finally {
      await admin.disconnect()
    }
  }

  /** Take a partition over: fence its previous owner (aborting its open transaction), then read the committed offset. */
  private async open(partition: number): Promise<PartitionState> {
    const producer = this.o.kafka.producer({
      transactionalId: `${this.o.groupId}:${this.o.inputTopic}:${partition}`,
      idempotent: true,
      maxInFlightRequests: 1,
      // murmur2 on the key, as Java clients and the gateway's producer: one device, one partition.
      createPartitioner: Partitioners.DefaultPartitioner,
      transactionTimeout: this.o.transactionTimeoutMs
    })
    await producer.connect()
    try {
      await (await producer.transaction()).abort() // InitProducerId: fences the old owner; no EndTxn is sent
      const admin = this.o.kafka.admin()
      await admin.connect()
      let floor = -1n
      try {
        const [t] = await admin.fetchOffsets({ groupId: this.o.groupId, topics: [this.o.inputTopic] })
        const off = t?.partitions.find(x => x.partition === partition)?.offset
        if (off !== undefined) floor = BigInt(off)
      } finally {
        await admin.disconnect()
      }
      const st: PartitionState = { producer, dedupe: new Dedupe(this.o.dedupeWindow), floor }
      this.parts.set(partition, st)
      return st
    } catch (err) {
      await producer.disconnect().catch(() => {})
      throw err
    }
  }

  private async close(partition: number): Promise<void> {
    const st = this.parts.get(partition)
    if (st === undefined) return
    this.parts.delete(partition)
    this.stats.duplicates += st.dedupe.stats.duplicates
    this.stats.unverified += st.dedupe.stats.unverified
    await st.producer.disconnect().catch(() => {})
  }

  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const partition = batch.partition
    const st = this.parts.get(partition) ?? (await this.open(partition))
    const messages = batch.messages.filter(m => BigInt(m.offset) >= st.floor)
    // Below the floor: the previous owner committed them (with their records) after this consumer
    // fetched its position. Resolved so the fetch moves past them; nothing is written again.
    const skipped = batch.messages.length - messages.length
    if (skipped > 0) resolveOffset(batch.messages[skipped - 1]!.offset)
    for (let i = 0; i < messages.length; i += this.o.messagesPerTransaction) {
      if (!isRunning() || isStale()) return
      const slice = messages.slice(i, i + this.o.messagesPerTransaction)
      const out: Array<{ key: string; value: string; headers: Record<string, string> }> = []
      let readings = 0
      let undecodable = 0
      for (const m of slice) {
        let decoded: DecodedReading[]
        const headers = headersOf(m.headers)
        try {
          if (m.value === null) throw new HoldfastError('HF_ERR_DECODE', 'message has no value')
          decoded = decodeBatch(m.value, headers)
        } catch (err) {
          undecodable++
          const e = err instanceof HoldfastError ? err.toJSON() : { message: String(err) }
          this.o.log.warn(
            { ...e, code: 'HF_ERR_DECODE', partition, offset: m.offset },
            'expand: undecodable message skipped'
          )
          continue
        }
        const ctx: BatchContext = {
          cls: text(headers['hf-class']),
          kind: text(headers['hf-kind']),
          lane: text(headers['hf-lane']),
          source: { topic: batch.topic, partition, offset: m.offset }
        }
        readings += decoded.length
        for (const r of decoded) {
          if (st.dedupe.check(r.gatewayId, r.device, r.seq) === 'duplicate') continue
          const rec = expandReading(r, ctx)
          out.push({
            key: r.device,
            value: JSON.stringify(rec),
            headers: { 'hf-type': rec.type, 'hf-event-id': rec.eventId }
          })
        }
      }
      const next = (BigInt(slice[slice.length - 1]!.offset) + 1n).toString()
      await this.commit(partition, st, out, next)
      resolveOffset(slice[slice.length - 1]!.offset)
      this.stats.messages += slice.length
      this.stats.readings += readings
      this.stats.written += out.length
      this.stats.undecodable += undecodable
      await heartbeat()
    }
  }

  private async commit(
    partition: number,
    st: PartitionState,
    out: Array<{ key: string; value: string; headers: Record<string, string> }>,
    offset: string
  ): Promise<void> {
    const txn = await st.producer.transaction()
    try {
      if (out.length > 0)
        await txn.send({ topic: this.o.outputTopic, compression: CompressionTypes.GZIP, messages: out })
      await txn.sendOffsets({
        consumerGroupId: this.o.groupId,
        topics: [{ topic: this.o.inputTopic, partitions: [{ partition, offset }] }]
      })
      await txn.commit()
      this.stats.transactions++
    } catch (err) {
      this.stats.aborted++
      if (txn.isActive()) await txn.abort().catch(() => {})
      // Fenced (another instance owns the partition now) or a broker error: start over from the committed offset.
      await this.close(partition)
      this.o.log.warn(
        { code: 'HF_ERR_EXPAND_TRANSACTION', partition, offset, err: (err as Error).message },
        'expand: transaction aborted; the partition is read again from its committed offset'
      )
      throw new HoldfastError('HF_ERR_EXPAND_TRANSACTION', undefined, { partition }, { cause: err })
    }
  }

  summary(): Record<string, number> {
    let duplicates = this.stats.duplicates
    let unverified = this.stats.unverified
    for (const st of this.parts.values()) {
      duplicates += st.dedupe.stats.duplicates
      unverified += st.dedupe.stats.unverified
    }
    return { ...this.stats, duplicates, unverified }
  }
}
