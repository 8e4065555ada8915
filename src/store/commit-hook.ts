/** What runs inside the group commit's transaction besides the inserts (the aggregator), and what it may do there. */
import type { NewReading, StoredReading } from './reading.js'

/** What a commit hook may do inside the group commit's transaction. */
export interface CommitTx {
  readonly batch: readonly NewReading[]
  readonly firstSeq: number
  readonly recvMs: number
  /** Bytes the disk budget asks compaction to free in this commit (0 = none asked). */
  readonly compactBytes: number
  /** Insert a further reading (a rollup) in this commit; returns its seq. */
  add: (r: NewReading) => number
  /** Oldest-first raw readings (any priority) with seq > afterSeq: what compaction may replace. */
  scanRaw: (afterSeq: number, limit: number) => StoredReading[]
  /** Delete readings in this commit (compaction); accounted once it commits. */
  remove: (rows: readonly StoredReading[]) => void
}
/** Runs inside every group commit, after the batch's inserts (the aggregator: rollup windows, compaction). */
export interface CommitHook {
  /** Nothing to do for this group (no reading it absorbs, no window to close): it may commit off this thread. */
  quiet: (batch: readonly NewReading[]) => boolean
  inTransaction: (tx: CommitTx) => void
  committed: () => void
  rolledBack: () => void
}
