/**
 * What goes in one produce request: each lane's share, read and encoded (lane-read.ts, on the read
 * worker when it runs), sized by count, bytes and the uplink budget, with the live lane's share while a
 * backlog drains. The forwarder (forwarder.ts) sends it and releases it.
 */
import type { Message } from 'kafkajs'
import type { Config } from '../config/schema.js'
import type { ReadingBuffer } from '../store/buffer.js'
import { KIND_RAW, KIND_ROLLUP, laneKey } from '../store/reading.js'
import type { RunPart } from '../store/run-reads.js'
import type { UplinkBudget } from './budget.js'
import type { LaneRead, LaneSpec } from './lane-read.js'
import type { PriorityClasses } from './priority.js'

/**
 * One produce request carries up to this many readings and raw payload bytes. Big requests
 * drain fastest (per-message overhead spreads over more readings); the byte bound keeps a
 * partition's record batch under the broker's message.max.bytes, and shrinks by half when
 * the broker still says a batch is too large.
 */
export const REQUEST_READINGS = 100_000
/** …and at most this many full batches, so smaller batches make smaller requests. */
const BATCHES_PER_REQUEST = 100
export const REQUEST_BYTES = 8 * 1024 * 1024

export interface Request {
  /**
   * Each run is consecutive readings of one lane (priority + kind; the bulk lane's backlog or live part),
   * released with one ranged delete. Higher priorities come first, in the runs and in the messages.
   */
  runs: RunPart[]
  count: number
  messages: Message[]
  /** A read filled its share: more is waiting, worth preparing ahead. */
  full: boolean
  /** Per lane, the last seq this request carries: the pipelined next read starts after it. */
  cursors: Map<number, number>
  /** Rows from here on are in flight in the live lane: the next backlog read stops below. */
  firstLiveSeq: number
  /** Estimated bytes on the link (only counted with an uplink budget). */
  bytes: number
}

/** The forwarder's settings and state a plan reads (they change with remote configuration and sends). */
export interface PlanContext {
  buffer: ReadingBuffer
  batch: Config['batch']
  gatewayId: string
  classes: PriorityClasses
  /** Uplink budget; null = no gating. */
  budget: UplinkBudget | null
  /** Budget bytes of the request in flight, counted as spent while the next one is planned. */
  inFlightBytes: number
  /** The request's payload bound (REQUEST_BYTES, halved while the broker says a batch is too large). */
  requestBytes: number
}

export class RequestPlanner {
  /** Link bytes per reading, learnt per kind, to size reads under the budget (starts high: cautious). */
  private readonly bytesPerReading = [40, 200]

  constructor(
    /** One lane's read and encoding. */
    private readonly read: (spec: LaneSpec) => Promise<LaneRead> | LaneRead,
    /** Highest seq the live lane has sent: the lane only moves forward, so it stays in order per device. */
    private liveHighWater: number
  ) {}

  /**
   * One produce request. Lanes are read highest priority first (rollups before raw within a priority),
   * each oldest-first after what `prev` (the request in flight) already carries, so an alarm goes out
   * in the next request however large the telemetry backlog is. The bulk lane (priority 0 raw) keeps
   * its backlog + live split. With an uplink budget, lanes whose class is held are skipped and reads
   * are sized to the budget left before the class's next threshold.
   */
  async plan(prev: Request | null, c: PlanContext): Promise<Request> {
    const { buffer, batch } = c
    const usage = buffer.usage.usageTotal()
    const meanBytes = usage.readings > 0 ? usage.bytes / usage.readings : 1
    const perRequest = Math.max(
      1,
      Math.min(REQUEST_READINGS, batch.maxReadings * BATCHES_PER_REQUEST, Math.floor(c.requestBytes / meanBytes))
    )
    const req: Request = {
      runs: [],
      count: 0,
      messages: [],
      full: false,
      cursors: new Map(),
      firstLiveSeq: prev?.firstLiveSeq ?? Number.MAX_SAFE_INTEGER,
      bytes: 0
    }
    const shape = {
      gatewayId: c.gatewayId,
      keyBy: batch.keyBy,
      maxReadings: batch.maxReadings,
      maxBytes: batch.maxBytes
    }
    const now = Date.now()
    for (const lane of buffer.lanes.list()) {
      const room = perRequest - req.count
      if (room <= 0) {
        req.full = true
        break
      }
      const cls = c.classes.atPriority(lane.cls)
      let cap = room
      if (c.budget !== null && !cls.exempt) {
        const at = lane.kind === KIND_RAW ? Math.min(cls.rollupOnlyAt, cls.holdAt) : cls.holdAt
        const headroom = c.budget.headroom(at, now, c.inFlightBytes + req.bytes)
        if (headroom <= 0) continue
        cap = Math.min(
          cap,
          Math.max(1, Math.floor(headroom / this.bytesPerReading[lane.kind === KIND_ROLLUP ? 1 : 0]!))
        )
      }
      const key = laneKey(lane.cls, lane.kind)
      const after = prev?.cursors.get(key) ?? 0
      const bulk = lane.cls === 0 && lane.kind === KIND_RAW
      // The bulk lane: while a backlog larger than this read drains, a share goes to the newest readings (the live lane).
      const liveShare = bulk && lane.readings > cap ? Math.floor(cap * batch.freshShare) : 0
      const spec: LaneSpec = {
        cls: lane.cls,
        kind: lane.kind,
        className: cls.name,
        after,
        before: bulk ? req.firstLiveSeq : Number.MAX_SAFE_INTEGER,
        limit: cap - liveShare,
        live: liveShare > 0 ? { after: this.liveHighWater, limit: liveShare } : null,
        durableSeq: buffer.lanes.durableSeq(),
        corrections: buffer.times.list(),
        shape
      }
      const got = await this.read(spec)
      const backlog = got.backlog.seqs
      const live = got.live?.seqs ?? new Float64Array(0)
      req.cursors.set(key, backlog.length > 0 ? backlog[backlog.length - 1]! : after)
      if (backlog.length === spec.limit) req.full = true
      // The live lane only moves forward, so it stays in order per device.
      if (live.length > 0) {
        this.liveHighWater = live[live.length - 1]!
        req.firstLiveSeq = Math.min(live[0]!, req.firstLiveSeq)
      }
      for (const part of [got.backlog, got.live]) if (part !== null && part.seqs.length > 0) req.runs.push(part)
      const rows = backlog.length + live.length
      if (rows === 0) continue
      req.count += rows
      for (const m of got.messages) req.messages.push(m)
      if (c.budget !== null) {
        const bytes = c.budget.estimate(got.messages)
        req.bytes += bytes
        const k = lane.kind === KIND_ROLLUP ? 1 : 0
        this.bytesPerReading[k] = this.bytesPerReading[k]! * 0.5 + (bytes / rows) * 0.5
      }
    }
    return req
  }
}
