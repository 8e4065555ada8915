/**
 * One lane's share of a produce request: its readings read oldest-first (and, for the bulk lane, the
 * newest ones as the live lane), encoded as messages, with the parts their release needs. The same code
 * runs on the read worker (read-worker.ts) and, when that is not running, on the broker thread.
 */
import type { BatchMessage } from '../codec/types.js'
import type { ClockCorrection } from '../store/clock.js'
import type { RunPart, RunReads } from '../store/run-reads.js'
import { type BatchShape, toMessages } from './batches.js'

export interface LaneSpec {
  cls: number
  kind: number
  /** The priority class's name, carried in each batch. */
  className: string
  /** Backlog: readings with after < seq < before, at most `limit` of them. */
  after: number
  before: number
  limit: number
  /** Bulk lane only: the newest `limit` readings past both the backlog read and `after`. */
  live: { after: number; limit: number } | null
  /** Nothing past the newest synced seq is read: it could still vanish in a power cut. */
  durableSeq: number
  corrections: readonly ClockCorrection[]
  shape: BatchShape
}

export interface LaneRead {
  backlog: RunPart
  live: RunPart | null
  messages: BatchMessage[]
}

export function readLane(reads: RunReads, spec: LaneSpec): LaneRead {
  const oldest = reads.lane(spec.cls, spec.kind, spec.after, Math.min(spec.before, spec.durableSeq + 1), spec.limit)
  const n = oldest.readings.length
  const lastBacklogSeq = n > 0 ? oldest.readings[n - 1]!.seq : spec.after
  const live =
    spec.live !== null && spec.live.limit > 0
      ? reads.newestBulk(Math.max(lastBacklogSeq, spec.live.after), spec.durableSeq, spec.live.limit)
      : null
  const messages = toMessages(oldest.readings, 'backlog', spec.className, spec.shape)
  if (live !== null) for (const m of toMessages(live.readings, 'live', spec.className, spec.shape)) messages.push(m)
  return { backlog: oldest.part, live: live?.part ?? null, messages }
}
