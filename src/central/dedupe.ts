/**
 * De-duplication by event id in bounded memory, for consumers of the batch topic (`holdfast decode`,
 * `holdfast expand`). An event id is (gateway, seq) and every seq belongs to one device, so state is
 * kept per (gateway, device) stream:
 *
 * - `hwm`: the highest seq let through. A reading above it is new without a lookup — the common case,
 *   since each lane of a device arrives in seq order.
 * - a window of the last `window` seqs let through (all streams together, oldest evicted first): a
 *   reading at or below `hwm` is a duplicate when its seq is in the window. Out-of-order arrivals
 *   (another lane of the same device: live vs backlog, alarms vs telemetry, rollups) are not in it
 *   and pass.
 * - `evictedMax`: the highest seq of the stream that left the window. A reading not in the window
 *   but above it was certainly never seen (new); one at or below it cannot be told from a duplicate
 *   whose first copy left the window: it is let through and counted `unverified`.
 *
 * Memory: `window` entries (about 70 bytes each, measured as RSS) plus about 150 bytes per stream,
 * whatever the length of the topic. A re-sent reading is recognised as long as fewer than `window`
 * readings were let through between its first copy and the re-send.
 */

export type Verdict = 'new' | 'duplicate' | 'unverified'

interface Stream {
  hwm: number
  evictedMax: number
  seen: Set<number>
}

export const DEFAULT_DEDUPE_WINDOW = 1_000_000

export class Dedupe {
  private readonly streams = new Map<string, Stream>()
  private readonly ringStream: Array<Stream | undefined>
  private readonly ringSeq: Float64Array
  private head = 0
  private size = 0
  readonly stats = { duplicates: 0, unverified: 0 }

  constructor(readonly window: number = DEFAULT_DEDUPE_WINDOW) {
    if (!Number.isSafeInteger(window) || window < 1) throw new RangeError(`dedupe window must be ≥ 1 (got ${window})`)
    this.ringStream = new Array<Stream | undefined>(window)
    this.ringSeq = new Float64Array(window)
  }

  /** Entries in the window now (≤ window). */
  get entries(): number {
    return this.size
  }

  /** Streams (gateway, device) known. */
  get streamCount(): number {
    return this.streams.size
  }

  /** Judge one reading; `new` and `unverified` ones are remembered (let through), duplicates are not. */
  check(gatewayId: string, device: string, seq: number): Verdict {
    const key = `${gatewayId}\u0000${device}`
    let s = this.streams.get(key)
    if (s === undefined) this.streams.set(key, (s = { hwm: -1, evictedMax: -1, seen: new Set() }))
    let verdict: Verdict
    if (seq > s.hwm) {
      s.hwm = seq
      verdict = 'new'
    } else if (s.seen.has(seq)) {
      this.stats.duplicates++
      return 'duplicate'
    } else if (seq > s.evictedMax) {
      verdict = 'new'
    } else {
      this.stats.unverified++
      verdict = 'unverified'
    }
    this.remember(s, seq)
    return verdict
  }

  private remember(s: Stream, seq: number): void {
    if (this.size === this.window) {
      const old = this.ringStream[this.head]!
      const oldSeq = this.ringSeq[this.head]!
      old.seen.delete(oldSeq)
      if (oldSeq > old.evictedMax) old.evictedMax = oldSeq
    } else {
      this.size++
    }
    this.ringStream[this.head] = s
    this.ringSeq[this.head] = seq
    s.seen.add(seq)
    this.head = (this.head + 1) % this.window
  }
}
