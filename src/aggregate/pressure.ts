/**
 * Degrade before dropping. Called for each reading before the storage quotas decide (admission), when
 * the buffer nears its disk budget (`store.compactAt`, default 90 %):
 *   1. raw readings kept after forwarding (retention) go first, oldest first;
 *   2. then the oldest raw readings of topics whose aggregate rule allows it are compacted into
 *      rollups in the next group commit (src/aggregate/aggregator.ts);
 * and only when neither frees enough does the budget reach 100 % and the storage policy drop or
 * refuse readings (src/quota/storage.ts), counted by reason as before.
 */
import type { ReadingBuffer } from '../store/buffer.js'
import type { Aggregator } from './aggregator.js'

/** Each compaction pass aims to free this share of the budget (at least 64 KiB). */
const CHUNK_SHARE = 0.05
const MIN_CHUNK = 64 * 1024

export type Relief = (bytes: number, budget: number) => void

export function createRelief(buffer: ReadingBuffer, aggregator: Aggregator | null, compactAt: number): Relief {
  return (bytes, budget) => {
    if (!Number.isFinite(budget)) return
    const threshold = budget * compactAt
    const over = buffer.usage.projectedTotalBytes() + bytes - threshold
    if (over <= 0) return
    const chunk = Math.max(MIN_CHUNK, budget * CHUNK_SHARE)
    // Retained readings are already in Kafka: the first to go.
    const trimmed = buffer.retention.trimKept(over + chunk)
    if (trimmed >= over) return
    if (aggregator !== null && !buffer.writer.compactionPending() && aggregator.mayCompact(buffer.writer.lastSeq()))
      buffer.writer.requestCompaction(chunk)
  }
}
