/**
 * Tumbling-window rollups per device stream (topic) and metric, by event time, durable across restarts.
 *
 * Runs inside the buffer's group commit (a CommitHook): the readings of a commit are absorbed into their
 * windows, every window they touched is written to `rollup_windows` in the same transaction, and windows
 * that are due are closed there too — their rollup inserted as a reading (kind rollup) and their state row
 * deleted. So a restart (SIGTERM or SIGKILL) finds exactly the partial aggregates of the readings that
 * were committed: nothing is lost and nothing counted twice. A failed commit reloads the state from the
 * database, which rolled back with it.
 *
 * Windows are [start, start + windowMs) in event time (the reading's own time, else its receive time).
 * A window closes when the stream's watermark (the latest event time seen on the topic) passes
 * end + latenessMs, or when no reading joined it for windowMs + latenessMs of gateway time (a silent
 * device). A reading whose window has already closed — or whose event time is older than
 * watermark - latenessMs when it arrives, even if its window is still open — is *late*: it goes into a
 * separate late rollup for its window (`"late":true`), which closes after max(latenessMs, 1 s) without
 * further late readings, and is counted in counters.lateReadings. Every record of a window (on time, late,
 * compacted) carries count, min, max, sum and last; merging them (add counts and sums, min of mins, max of
 * maxes, last of the latest) gives exactly the figures of all the window's readings.
 */
import type { Statement } from 'better-sqlite3'
import type { DB } from '../store/db.js'
import type { CommitHook, CommitTx } from '../store/commit-hook.js'
import { KIND_ROLLUP, rowBytes, type NewReading, type StoredReading } from '../store/reading.js'
import type { Counters } from '../metrics/counters.js'
import type { ParsedPayload } from './payload.js'
import { parsePayload } from './payload.js'
import type { Rule } from './rules.js'
import type { TopicTable } from '../identity/topic-table.js'
import { absorb, newMetric, summary, type MetricState } from './stats.js'

/** What admission attaches to a reading (NewReading.meta) for the aggregator. */
export interface AggregateMeta {
  rule: Rule
  parsed: ParsedPayload
}

interface Window {
  /** Row id in rollup_windows. */
  id: number
  topic: string
  device: string
  late: boolean
  start: number
  end: number
  latenessMs: number
  n: number
  maxEv: number
  /** Gateway time the last reading joined. */
  touchedMs: number
  metrics: Map<string, MetricState>
  units: Readonly<Record<string, string>>
}

interface Marks {
  watermark: number
  closedBefore: number
}

/** Persisted window state (rollup_windows.state). */
interface WindowRow {
  d: string
  e: number
  l: number
  n: number
  x: number
  t: number
  m: Array<[string, MetricState]>
  u?: Record<string, string>
}

const IDLE_CHECK_MS = 1000
/** Compaction reads this many rows at a time, and at most COMPACT_MAX_ROWS per commit (bounded pause). */
const COMPACT_CHUNK = 2000
const COMPACT_MAX_ROWS = 20_000

export interface AggregatorOptions {
  db: DB
  rules: TopicTable<Rule>
  /** Priority of a topic's readings (its rollups get the same). */
  priorityOf: (topic: string) => number
  counters: Counters
}

const keyOf = (topic: string, late: boolean, start: number): string => `${late ? 1 : 0}${start}\u0000${topic}`

export class Aggregator implements CommitHook {
  private readonly open = new Map<string, Window>()
  private readonly byTopic = new Map<string, Set<Window>>()
  private readonly marks = new Map<string, Marks>()
  private readonly dirty = new Set<Window>()
  private readonly dirtyMarks = new Set<string>()
  private readonly advanced = new Set<string>()
  private readonly upsertWindow: Statement
  private readonly deleteWindow: Statement
  private readonly upsertMark: Statement
  private lastIdleCheck = 0
  private nextId = 1
  private compactCursor = 0
  /** The last compaction pass found nothing more to compact below this seq. */
  private compactExhaustedAt = -1
  /** Counted after the commit that did them. */
  private pending = { rollups: 0, late: 0, compacted: 0, compactedRollups: 0, compactedBytes: 0 }
  readonly totals = { rollups: 0, lateReadings: 0, compacted: 0, compactedRollups: 0, compactedBytesFreed: 0 }

  constructor(private readonly o: AggregatorOptions) {
    this.upsertWindow = o.db.prepare(
      'INSERT INTO rollup_windows (id, topic, late, start_ms, state) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state'
    )
    this.deleteWindow = o.db.prepare('DELETE FROM rollup_windows WHERE id = ?')
    this.upsertMark = o.db.prepare(
      'INSERT INTO rollup_marks (topic, closed_before, watermark) VALUES (?, ?, ?) ON CONFLICT(topic) DO UPDATE SET closed_before = excluded.closed_before, watermark = excluded.watermark'
    )
    this.load()
  }

  /** New rules (live reconfiguration): open windows keep theirs; new readings and compaction use these. */
  setRules(rules: TopicTable<Rule>): void {
    this.o.rules = rules
  }

  /** Open windows now (for status and tests). */
  openWindows(): number {
    return this.open.size
  }

  /** Any window due to close by the idle rule at `now`? (The sweep timer asks, then requests a commit.) */
  due(now: number): boolean {
    for (const w of this.open.values()) if (now >= this.idleDeadline(w)) return true
    return false
  }

  /** May compaction find something new? False while nothing was appended since a pass came up empty. */
  mayCompact(lastSeq: number): boolean {
    return this.compactExhaustedAt < 0 || lastSeq > this.compactExhaustedAt
  }

  /**
   * No reading of the group joins a window and no window state waits to be written: the group may
   * commit without this hook (on the commit worker). Idle windows still close: the sweep timer asks
   * for a commit once one is due.
   */
  quiet(batch: readonly NewReading[]): boolean {
    if (this.dirty.size > 0 || this.dirtyMarks.size > 0 || this.advanced.size > 0) return false
    for (let i = 0; i < batch.length; i++) {
      const meta = batch[i]!.meta as AggregateMeta | undefined
      if (meta !== undefined && meta.rule.mode !== 'raw') return false
    }
    return true
  }

  inTransaction(tx: CommitTx): void {
    for (let i = 0; i < tx.batch.length; i++) {
      const r = tx.batch[i]!
      const meta = r.meta as AggregateMeta | undefined
      if (meta === undefined || meta.rule.mode === 'raw') continue
      this.absorbReading(r, meta, tx.firstSeq + i, tx.recvMs)
    }
    // Watermark rule: windows of streams whose watermark moved.
    for (const topic of this.advanced) {
      const m = this.marks.get(topic)!
      for (const w of [...(this.byTopic.get(topic) ?? [])]) {
        if (!w.late && w.end + w.latenessMs <= m.watermark) this.close(tx, w)
      }
    }
    this.advanced.clear()
    // Idle rule, at most once a second.
    const now = tx.recvMs
    if (now - this.lastIdleCheck >= IDLE_CHECK_MS) {
      this.lastIdleCheck = now
      for (const w of [...this.open.values()]) if (now >= this.idleDeadline(w)) this.close(tx, w)
    }
    if (tx.compactBytes > 0) this.compact(tx)
    for (const w of this.dirty) {
      this.upsertWindow.run(w.id, w.topic, w.late ? 1 : 0, w.start, JSON.stringify(this.rowOf(w)))
    }
    for (const topic of this.dirtyMarks) {
      const m = this.marks.get(topic)!
      this.upsertMark.run(topic, m.closedBefore, m.watermark)
    }
  }

  committed(): void {
    this.dirty.clear()
    this.dirtyMarks.clear()
    const p = this.pending
    const c = this.o.counters
    this.totals.rollups += p.rollups
    this.totals.lateReadings += p.late
    this.totals.compacted += p.compacted
    this.totals.compactedRollups += p.compactedRollups
    this.totals.compactedBytesFreed += p.compactedBytes
    c.rollups += p.rollups
    c.lateReadings += p.late
    c.compacted += p.compacted
    this.pending = { rollups: 0, late: 0, compacted: 0, compactedRollups: 0, compactedBytes: 0 }
  }

  /** The transaction rolled back: the database holds the state as of the last commit; take it from there. */
  rolledBack(): void {
    this.pending = { rollups: 0, late: 0, compacted: 0, compactedRollups: 0, compactedBytes: 0 }
    this.compactCursor = 0
    this.load()
  }

  private load(): void {
    this.open.clear()
    this.byTopic.clear()
    this.marks.clear()
    this.dirty.clear()
    this.dirtyMarks.clear()
    this.advanced.clear()
    for (const r of this.o.db.prepare('SELECT topic, closed_before, watermark FROM rollup_marks').all() as Array<{
      topic: string
      closed_before: number
      watermark: number
    }>) {
      this.marks.set(r.topic, { closedBefore: r.closed_before, watermark: r.watermark })
    }
    this.nextId = 1
    for (const r of this.o.db.prepare('SELECT id, topic, late, start_ms, state FROM rollup_windows').all() as Array<{
      id: number
      topic: string
      late: number
      start_ms: number
      state: string
    }>) {
      const s = JSON.parse(r.state) as WindowRow
      this.nextId = Math.max(this.nextId, r.id + 1)
      const w: Window = {
        id: r.id,
        topic: r.topic,
        device: s.d,
        late: r.late === 1,
        start: r.start_ms,
        end: s.e,
        latenessMs: s.l,
        n: s.n,
        maxEv: s.x,
        touchedMs: s.t,
        metrics: new Map(s.m),
        units: s.u ?? {}
      }
      this.addOpen(w)
      const m = this.marksOf(w.topic)
      if (w.maxEv > m.watermark) m.watermark = w.maxEv
    }
  }

  private marksOf(topic: string): Marks {
    let m = this.marks.get(topic)
    if (m === undefined) this.marks.set(topic, (m = { watermark: -Infinity, closedBefore: -Infinity }))
    return m
  }

  private addOpen(w: Window): void {
    this.open.set(keyOf(w.topic, w.late, w.start), w)
    let set = this.byTopic.get(w.topic)
    if (set === undefined) this.byTopic.set(w.topic, (set = new Set()))
    set.add(w)
  }

  private idleDeadline(w: Window): number {
    return w.late ? w.touchedMs + Math.max(w.latenessMs, 1000) : w.touchedMs + (w.end - w.start) + w.latenessMs
  }

  private absorbReading(r: NewReading, meta: AggregateMeta, seq: number, recvMs: number): void {
    const { rule, parsed } = meta
    if (parsed.names.length === 0) return
    const ev = r.eventMs ?? recvMs
    const start = Math.floor(ev / rule.windowMs) * rule.windowMs
    const marks = this.marksOf(r.topic)
    // Older than watermark - lateness when it arrives: late, even while its window is still open
    // (waiting for the watermark to pass end + lateness, or for the idle rule).
    const tooOld = ev < marks.watermark - rule.latenessMs
    let w = tooOld ? undefined : this.open.get(keyOf(r.topic, false, start))
    if (w === undefined) {
      // ... or its window has closed already.
      const late = tooOld || start < marks.closedBefore
      const key = keyOf(r.topic, late, start)
      w = this.open.get(key)
      if (w === undefined) {
        w = {
          id: this.nextId++,
          topic: r.topic,
          device: r.device,
          late,
          start,
          end: start + rule.windowMs,
          latenessMs: rule.latenessMs,
          n: 0,
          maxEv: -Infinity,
          touchedMs: recvMs,
          metrics: new Map(),
          units: rule.schema?.units ?? {}
        }
        this.addOpen(w)
      }
      if (late) this.pending.late++
    }
    for (let i = 0; i < parsed.names.length; i++) {
      const name = parsed.names[i]!
      let m = w.metrics.get(name)
      if (m === undefined) w.metrics.set(name, (m = newMetric()))
      absorb(m, parsed.values[i]!, ev, seq)
    }
    w.n++
    if (ev > w.maxEv) w.maxEv = ev
    w.touchedMs = recvMs
    this.dirty.add(w)
    if (ev > marks.watermark) {
      marks.watermark = ev
      this.advanced.add(r.topic)
    }
  }

  private close(tx: CommitTx, w: Window): void {
    tx.add(this.rollupReading(w, null))
    this.pending.rollups++
    this.open.delete(keyOf(w.topic, w.late, w.start))
    this.byTopic.get(w.topic)?.delete(w)
    this.dirty.delete(w)
    this.deleteWindow.run(w.id)
    const m = this.marksOf(w.topic)
    if (!w.late && w.end > m.closedBefore) m.closedBefore = w.end
    this.dirtyMarks.add(w.topic)
  }

  private rollupReading(w: Window, compacted: { firstSeq: number; lastSeq: number } | null): NewReading {
    return {
      device: w.device,
      topic: w.topic,
      payload: Buffer.from(rollupJson(w, compacted)),
      eventMs: w.start,
      qos: 1,
      cls: this.o.priorityOf(w.topic),
      kind: KIND_ROLLUP
    }
  }

  private rowOf(w: Window): WindowRow {
    const row: WindowRow = {
      d: w.device,
      e: w.end,
      l: w.latenessMs,
      n: w.n,
      x: w.maxEv,
      t: w.touchedMs,
      m: [...w.metrics]
    }
    if (Object.keys(w.units).length > 0) row.u = { ...w.units }
    return row
  }

  /**
   * Degrade before dropping: replace the oldest raw readings of topics whose rule allows it with
   * rollups over exactly those readings (`"compacted":true`, with the first and last seq they cover),
   * in this commit, until about `tx.compactBytes` are freed or nothing compactable is left. For `both`
   * topics the live rollups already cover the readings, so only the raw copies go (no second record:
   * every record of a window keeps covering readings no other record covers).
   */
  private compact(tx: CommitTx): void {
    let freed = 0
    let scanned = 0
    let after = this.compactCursor
    while (freed < tx.compactBytes && scanned < COMPACT_MAX_ROWS) {
      const rows = tx.scanRaw(after, COMPACT_CHUNK)
      if (rows.length === 0) {
        this.compactExhaustedAt = tx.firstSeq + tx.batch.length
        break
      }
      scanned += rows.length
      after = rows[rows.length - 1]!.seq
      const groups = new Map<string, { w: Window; rows: StoredReading[] }>()
      const covered: StoredReading[] = []
      for (const row of rows) {
        const rule = this.o.rules.match(row.topic)
        if (rule === null || !rule.compact) continue
        const parsed = parsePayload(row.payload, rule.schema)
        if (parsed === null || parsed.names.length === 0) continue
        if (rule.mode !== 'raw') {
          // `both`: the live rollups already hold this reading; only its raw copy goes.
          covered.push(row)
          continue
        }
        const ev = row.eventMs ?? parsed.eventMs ?? row.recvMs
        const start = Math.floor(ev / rule.windowMs) * rule.windowMs
        const key = `${start}\u0000${row.topic}`
        let g = groups.get(key)
        if (g === undefined) {
          const w: Window = {
            id: 0,
            topic: row.topic,
            device: row.device,
            late: false,
            start,
            end: start + rule.windowMs,
            latenessMs: rule.latenessMs,
            n: 0,
            maxEv: -Infinity,
            touchedMs: 0,
            metrics: new Map(),
            units: rule.schema?.units ?? {}
          }
          groups.set(key, (g = { w, rows: [] }))
        }
        for (let i = 0; i < parsed.names.length; i++) {
          const name = parsed.names[i]!
          let m = g.w.metrics.get(name)
          if (m === undefined) g.w.metrics.set(name, (m = newMetric()))
          absorb(m, parsed.values[i]!, ev, row.seq)
        }
        g.w.n++
        g.rows.push(row)
      }
      if (covered.length > 0) {
        tx.remove(covered)
        for (const r of covered) freed += rowBytes(r.topic, r.payload, r.props)
        this.pending.compacted += covered.length
      }
      for (const { w, rows: group } of groups.values()) {
        const rollup = this.rollupReading(w, { firstSeq: group[0]!.seq, lastSeq: group[group.length - 1]!.seq })
        tx.remove(group)
        tx.add(rollup)
        let bytes = 0
        for (const r of group) bytes += rowBytes(r.topic, r.payload, r.props)
        freed += bytes - rowBytes(rollup.topic, rollup.payload)
        this.pending.compacted += group.length
        this.pending.compactedRollups++
      }
    }
    this.compactCursor = after
    this.pending.compactedBytes += freed
  }
}

/**
 * A rollup's payload: one flat JSON object, so the batch codec transposes it into columns like any
 * reading. Keys: start, end (event time, ms), count (readings), lastTs (event time of the latest reading),
 * then per metric <m>.count, .min, .max, .mean, .sum, .last (.lastTs when that metric's last value is
 * older than lastTs; .unit when the schema gives one); `"late":true` on late rollups;
 * `"compacted":true, "firstSeq", "lastSeq"` on rollups that replaced raw readings under disk pressure.
 */
export function rollupJson(
  w: {
    start: number
    end: number
    n: number
    late: boolean
    metrics: Map<string, MetricState>
    units: Readonly<Record<string, string>>
  },
  compacted: { firstSeq: number; lastSeq: number } | null
): string {
  // lastTs: event time of the record's latest reading; a metric whose last value is older says so itself.
  let lastTs = -Infinity
  for (const m of w.metrics.values()) if (m[7] > lastTs) lastTs = m[7]
  const doc: Record<string, unknown> = { start: w.start, end: w.end, count: w.n, lastTs }
  for (const [name, m] of w.metrics) {
    const s = summary(m)
    doc[`${name}.count`] = s.count
    doc[`${name}.min`] = s.min
    doc[`${name}.max`] = s.max
    doc[`${name}.mean`] = s.mean
    doc[`${name}.sum`] = s.sum
    doc[`${name}.last`] = s.last
    if (m[7] !== lastTs) doc[`${name}.lastTs`] = m[7]
    const unit = w.units[name]
    if (unit !== undefined) doc[`${name}.unit`] = unit
  }
  if (w.late) doc.late = true
  if (compacted !== null) {
    doc.compacted = true
    doc.firstSeq = compacted.firstSeq
    doc.lastSeq = compacted.lastSeq
  }
  return JSON.stringify(doc)
}
