/**
 * The store-and-forward buffer. Appends made in one turn of the event loop are committed
 * in one transaction (group commit) that assigns sequence numbers; only then are the
 * callbacks called, so a PUBACK always follows the fsync of its reading.
 */
import type { Statement } from 'better-sqlite3'
import { HoldfastError } from '../errors.js'
import type { DB } from './db.js'
import type { RecoveryReport } from './recover.js'
import { ReceiveClock, type ClockCorrection } from './clock.js'
import { RecentReadings, RECENT_PER_DEVICE } from './recent.js'
import { SeqLedger } from './ledger.js'
import { classesLowestFirst, EvictOrder } from './evict-order.js'
import { ResendRecord } from './resend-record.js'

/**
 * `cls` is the reading's priority (0 = bulk, higher is sent first); `kind` is KIND_RAW, KIND_ROLLUP, or
 * KIND_LOCAL (stored in `kept` only, never forwarded: raw readings of rollup-only topics, kept `keepMs`).
 * `meta` travels to the commit hook untouched (the aggregator's parsed payload).
 */
export interface NewReading {
  device: string
  topic: string
  payload: Buffer
  eventMs: number | null
  qos: number
  cls?: number
  kind?: number
  keepMs?: number
  meta?: unknown
}
export interface StoredReading {
  seq: number
  device: string
  topic: string
  payload: Buffer
  recvMs: number
  eventMs: number | null
  qos: number
  cls?: number
  kind?: number
}
export const KIND_RAW = 0
export const KIND_ROLLUP = 1
export const KIND_LOCAL = 2
/** A forwarding lane: the readings of one priority and kind, read and released in seq order. */
export interface Lane {
  cls: number
  kind: number
  readings: number
}
/** One number per lane (priority 0-15, kind 0-3), for maps keyed by lane. */
export const laneKey = (cls: number, kind: number): number => cls * 4 + kind

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
  inTransaction: (tx: CommitTx) => void
  committed: () => void
  rolledBack: () => void
}
export type AppendCallback = (err: HoldfastError | null, seq: number) => void
export interface Usage {
  readings: number
  bytes: number
}
/** A request to delete a device's oldest readings in the next group commit, and what it did. */
export interface Eviction {
  device: string
  readings: number
  bytes: number
  reason: string
}

/** Bytes a reading costs on disk beyond its payload and topic: row header, key, index. */
export const ROW_OVERHEAD_BYTES = 40
/** A group this large is committed at once instead of waiting out the commit window. */
const COMMIT_NOW_ROWS = 256
export const rowBytes = (topic: string, payload: Buffer): number => payload.length + topic.length + ROW_OVERHEAD_BYTES

/** A readings row as raw() returns it: seq, device, topic, payload, recv_ms, event_ms, qos, cls, kind. */
type RawRow = [number, number, string, Buffer, number, number | null, number, number, number]
const COLS = 'seq, device, topic, payload, recv_ms, event_ms, qos, cls, kind'
const LANE = '(cls > 0 OR kind > 0)'

export class ReadingBuffer {
  private readonly db: DB
  private readonly insert: Statement
  private readonly insertDevice: Statement
  private readonly setMeta: Statement
  private readonly selectRange: Statement
  private readonly selectNewest: Statement
  private readonly selectOldest: Statement
  private readonly deleteOne: Statement
  private readonly evictOrder: EvictOrder
  private readonly resends: ResendRecord
  private readonly idOf = (device: string): number | undefined => this.deviceIds.get(device)
  /** Priority classes present while a commit's evictions run, lowest first. */
  private evictClasses: number[] = [0]
  /** Above every reading stored, while a commit's evictions run. */
  private evictEndSeq = 0
  private readonly deviceIds = new Map<string, number>()
  private readonly deviceNames = new Map<number, string>()
  private pending: NewReading[] = []
  private pendingCbs: AppendCallback[] = []
  private scheduled = false
  private timer: NodeJS.Timeout | null = null
  private lastCommitMs = -Infinity
  private nextSeq: number
  private lastRecvMs = 0
  /** Receive-time source; anchored at start, see clock.ts. */
  clock!: ReceiveClock
  /** Corrections for readings received while the clock was unsynced (usually none). */
  private corrections: ClockCorrection[] = []
  private firstSeqThisBoot = 0
  private readonly usage: Usage = { readings: 0, bytes: 0 }
  private readonly perDevice = new Map<string, Usage>()
  private readonly recent = new RecentReadings()
  private readonly commitListeners: Array<() => void> = []
  /** Appends not yet committed, minus evictions requested: what quotas must count before the commit. */
  private readonly pendingBy = new Map<string, Usage>()
  private readonly pendingAll: Usage = { readings: 0, bytes: 0 }
  private evictions: Eviction[] = []
  private readonly evictListeners: Array<(done: Eviction) => void> = []
  /**
   * Per device, a seq at or below its oldest buffered bulk (priority 0) reading; evictions scan forward
   * from here. No (device, seq) index: measured, it made every group commit 4-5x slower.
   */
  private readonly oldestHint = new Map<string, number>()
  /** Devices inserted by the open transaction, forgotten again if it rolls back. */
  private newDevices: string[] = []
  /** Totals since start, for the status API and metrics. */
  readonly totals = { committed: 0, commits: 0, released: 0, commitErrors: 0 }
  /** Fates of seqs that will never be forwarded, and lifetime totals (README "Control records"). */
  readonly ledger: SeqLedger
  /** What start-up found and did when the buffer files were damaged; null when they were sound. */
  recovery: RecoveryReport | null = null
  private lastOk = true
  /** Readings per lane (laneKey), so the forwarder only queries lanes that hold something. */
  private readonly laneCounts = new Map<number, number>()
  private hook: CommitHook | null = null
  private commitWanted = false
  private compactBytes = 0
  /** Raw readings kept after forwarding (and raw readings of rollup-only topics): what they cost on disk. */
  private readonly keptUsage: Usage = { readings: 0, bytes: 0 }
  private keptTrim = 0
  private retainMs = 0
  private readonly insertKept: Statement
  private readonly keepRun: Statement
  private readonly keepRunLane: Statement
  private readonly selectLaneBulk: Statement
  private readonly selectLane: Statement
  private readonly selectNewestBulk: Statement
  private readonly deleteRunBulk: Statement
  private readonly deleteRunLane: Statement
  private readonly selectRaw: Statement
  private readonly selectKeptHead: Statement
  private readonly deleteKeptTo: Statement
  private readonly getMeta: Statement
  /** Lane and usage changes made inside the open transaction, applied once it commits. */
  private readonly txLanes = new Map<number, number>()
  private txRemoved: StoredReading[] = []

  constructor(
    db: DB,
    private readonly commitWindowMs = 0
  ) {
    this.db = db
    this.ledger = new SeqLedger(db)
    this.insert = db.prepare(`INSERT INTO readings (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
    this.insertKept = db.prepare(
      'INSERT INTO kept (seq, device, topic, payload, recv_ms, event_ms, qos, until_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'
    )
    const keep =
      'INSERT INTO kept (seq, device, topic, payload, recv_ms, event_ms, qos, until_ms, fwd_ms) SELECT seq, device, topic, payload, recv_ms, event_ms, qos, ?, ? FROM readings'
    this.keepRun = db.prepare(`${keep} WHERE seq BETWEEN ? AND ? AND cls = 0 AND kind = 0`)
    this.keepRunLane = db.prepare(`${keep} WHERE ${LANE} AND cls = ? AND kind = ? AND seq BETWEEN ? AND ?`)
    this.selectLaneBulk = db
      .prepare(`SELECT ${COLS} FROM readings WHERE seq > ? AND seq < ? AND cls = 0 AND kind = 0 ORDER BY seq LIMIT ?`)
      .raw()
    this.selectLane = db
      .prepare(
        `SELECT ${COLS} FROM readings WHERE ${LANE} AND cls = ? AND kind = ? AND seq > ? AND seq < ? ORDER BY seq LIMIT ?`
      )
      .raw()
    this.selectNewestBulk = db
      .prepare(`SELECT ${COLS} FROM readings WHERE seq > ? AND cls = 0 AND kind = 0 ORDER BY seq DESC LIMIT ?`)
      .raw()
    this.deleteRunBulk = db
      .prepare('DELETE FROM readings WHERE seq BETWEEN ? AND ? AND cls = 0 AND kind = 0 RETURNING seq')
      .pluck()
    this.deleteRunLane = db
      .prepare(`DELETE FROM readings WHERE ${LANE} AND cls = ? AND kind = ? AND seq BETWEEN ? AND ? RETURNING seq`)
      .pluck()
    this.selectRaw = db.prepare(`SELECT ${COLS} FROM readings WHERE seq > ? AND kind = 0 ORDER BY seq LIMIT ?`).raw()
    this.selectKeptHead = db
      .prepare('SELECT id, until_ms, length(payload) + length(topic) FROM kept ORDER BY id LIMIT ?')
      .raw()
    this.deleteKeptTo = db.prepare('DELETE FROM kept WHERE id <= ?')
    this.getMeta = db.prepare('SELECT value FROM meta WHERE key = ?').pluck()
    this.insertDevice = db.prepare('INSERT INTO devices (name) VALUES (?)')
    this.setMeta = db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'
    )
    // raw(): rows as arrays, a third cheaper to read than objects on the drain path.
    this.selectRange = db.prepare(`SELECT ${COLS} FROM readings WHERE seq > ? AND seq < ? ORDER BY seq LIMIT ?`).raw()
    this.selectNewest = db.prepare(`SELECT ${COLS} FROM readings WHERE seq > ? ORDER BY seq DESC LIMIT ?`).raw()
    this.selectOldest = db.prepare('SELECT recv_ms FROM readings ORDER BY seq LIMIT 1').pluck()
    this.deleteOne = db.prepare('DELETE FROM readings WHERE seq = ?')
    this.evictOrder = new EvictOrder(db)
    this.resends = new ResendRecord(db)

    for (const d of db.prepare('SELECT id, name FROM devices').all() as Array<{ id: number; name: string }>) {
      this.deviceIds.set(d.name, d.id)
      this.deviceNames.set(d.id, d.name)
    }
    // The sequence never goes back, even after every row was forwarded and deleted:
    // (gateway id, seq) is the reading's event id downstream.
    const metaSeq =
      (db.prepare("SELECT value FROM meta WHERE key = 'next_seq'").pluck().get() as number | undefined) ?? 1
    const maxSeq = (db.prepare('SELECT max(seq) FROM readings').pluck().get() as number | null) ?? 0
    this.nextSeq = Math.max(metaSeq, maxSeq + 1)
    const rows = db
      .prepare(
        'SELECT device, count(*) AS n, sum(length(payload) + length(topic)) AS b, min(seq) AS lo FROM readings GROUP BY device'
      )
      .all() as Array<{ device: number; n: number; b: number; lo: number }>
    for (const r of rows) {
      const u = { readings: r.n, bytes: r.b + r.n * ROW_OVERHEAD_BYTES }
      this.perDevice.set(this.deviceNames.get(r.device) ?? String(r.device), u)
      this.oldestHint.set(this.deviceNames.get(r.device) ?? String(r.device), r.lo)
      this.usage.readings += u.readings
      this.usage.bytes += u.bytes
    }
    for (const l of db.prepare('SELECT cls, kind, count(*) AS n FROM readings GROUP BY cls, kind').all() as Array<{
      cls: number
      kind: number
      n: number
    }>) {
      this.laneCounts.set(laneKey(l.cls, l.kind), l.n)
    }
    const kept = db.prepare('SELECT count(*) AS n, sum(length(payload) + length(topic)) AS b FROM kept').get() as {
      n: number
      b: number | null
    }
    this.keptUsage.readings = kept.n
    this.keptUsage.bytes = (kept.b ?? 0) + kept.n * ROW_OVERHEAD_BYTES
    const newest = db.prepare('SELECT recv_ms FROM readings ORDER BY seq DESC LIMIT 1').pluck().get() as
      | number
      | undefined
    this.lastRecvMs = newest ?? 0
    const floor = Math.max(
      this.lastRecvMs,
      (db.prepare("SELECT value FROM meta WHERE key = 'last_recv_ms'").pluck().get() as number | undefined) ?? 0
    )
    this.clock = new ReceiveClock(floor)
    this.firstSeqThisBoot = this.nextSeq
    for (const r of db.prepare("SELECT key, value FROM meta WHERE key LIKE 'clock:%'").all() as Array<{
      key: string
      value: number
    }>) {
      const [first, last] = r.key.slice(6).split('-').map(Number)
      this.corrections.push({ firstSeq: first!, lastSeq: last!, offsetMs: r.value })
    }
    // Re-sends arrive right after a restart: remember what each device stored last.
    const window = Math.max(RECENT_PER_DEVICE, this.perDevice.size * RECENT_PER_DEVICE)
    const tail = db
      .prepare('SELECT seq, device, topic, payload FROM readings WHERE seq > ? AND event_ms IS NOT NULL ORDER BY seq')
      .all(this.nextSeq - 1 - window) as Array<{ seq: number; device: number; topic: string; payload: Buffer }>
    // Raw readings of rollup-only topics live in `kept`: their re-sends must be recognised too.
    const keptTail = (
      db
        .prepare('SELECT seq, device, topic, payload FROM kept WHERE event_ms IS NOT NULL ORDER BY id DESC LIMIT ?')
        .all(window) as typeof tail
    ).filter(r => r.seq > this.nextSeq - 1 - window)
    if (keptTail.length > 0) {
      tail.push(...keptTail)
      tail.sort((a, b) => a.seq - b.seq)
    }
    // And what left the buffer before the restart (forwarded, deleted): its durable record, merged by seq.
    const name = (id: number): string => this.deviceNames.get(id) ?? String(id)
    const restored = this.resends.load()
    let j = 0
    const restoreBefore = (seq: number): void => {
      for (; j < restored.length && restored[j]!.seq < seq; j++)
        this.recent.rememberFingerprint(name(restored[j]!.device), restored[j]!.fp)
    }
    for (const r of tail) {
      restoreBefore(r.seq)
      this.recent.remember(name(r.device), r.topic, r.payload)
    }
    restoreBefore(Number.POSITIVE_INFINITY)
  }

  /** Queue a reading for the next group commit; `cb` runs after it is durable (or failed). */
  append(reading: NewReading, cb: AppendCallback): void {
    this.pending.push(reading)
    this.pendingCbs.push(cb)
    this.addPending(reading.device, 1, rowBytes(reading.topic, reading.payload))
    this.schedule()
  }

  /**
   * A commit costs at least one page written twice (WAL, then checkpoint) and an fsync, however
   * few readings it holds. So commits start at most every commitWindowMs: a reading after a quiet
   * spell is committed at once, while under steady traffic each commit gathers what arrived in
   * the window (or commits early once a large group waits). Measured at 5,000 readings/s from
   * 1,000 devices: 2 ms cuts the bytes written per reading by about two thirds (SD cards and
   * eMMC wear out) for at most 2 ms more PUBACK latency.
   */
  private schedule(): void {
    if (this.scheduled || (this.timer !== null && this.pending.length < COMMIT_NOW_ROWS)) return
    const wait = this.lastCommitMs + this.commitWindowMs - performance.now()
    if (wait <= 0 || this.pending.length >= COMMIT_NOW_ROWS) {
      if (this.timer !== null) {
        clearTimeout(this.timer)
        this.timer = null
      }
      this.scheduled = true
      setImmediate(this.flush)
      return
    }
    this.timer = setTimeout(this.flushFromTimer, wait)
  }

  private readonly flushFromTimer = (): void => {
    this.timer = null
    if (!this.scheduled) this.flush()
  }

  /** Commit everything queued, in one transaction. */
  readonly flush = (): void => {
    this.scheduled = false
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
    this.lastCommitMs = performance.now()
    const batch = this.pending
    const cbs = this.pendingCbs
    const evictions = this.evictions
    const keptTrim = this.keptTrim
    const compactBytes = this.compactBytes
    if (batch.length === 0 && evictions.length === 0 && !this.commitWanted && keptTrim === 0 && compactBytes === 0)
      return
    this.pending = []
    this.pendingCbs = []
    this.evictions = []
    this.commitWanted = false
    this.keptTrim = 0
    this.compactBytes = 0
    const added: StoredReading[] = []
    let trimmed: Usage = { readings: 0, bytes: 0 }
    this.pendingBy.clear()
    this.pendingAll.readings = this.pendingAll.bytes = 0
    let evicted: Array<Eviction & { nextHint: number }> = []
    const firstSeq = this.nextSeq
    let nextSeq = firstSeq
    // Receive times never go backwards, whatever the wall clock does.
    const recvMs = (this.lastRecvMs = Math.max(this.clock.now(), this.lastRecvMs))
    try {
      this.db.transaction(() => {
        let seq = firstSeq
        for (const r of batch) {
          if (r.kind === KIND_LOCAL) {
            // Raw readings of rollup-only topics never go to Kafka: their rollups stand for them.
            this.ledger.fate(seq, this.deviceId(r.device), r.device, 'rollup_only')
            this.insertKept.run(
              seq++,
              this.deviceId(r.device),
              r.topic,
              r.payload,
              recvMs,
              r.eventMs,
              r.qos,
              recvMs + (r.keepMs ?? 0)
            )
          } else
            this.insert.run(
              seq++,
              this.deviceId(r.device),
              r.topic,
              r.payload,
              recvMs,
              r.eventMs,
              r.qos,
              r.cls ?? 0,
              r.kind ?? KIND_RAW
            )
        }
        if (this.hook !== null) {
          this.hook.inTransaction({
            batch,
            firstSeq,
            recvMs,
            compactBytes,
            add: r => {
              const cls = r.cls ?? 0
              const kind = r.kind ?? KIND_RAW
              this.insert.run(seq, this.deviceId(r.device), r.topic, r.payload, recvMs, r.eventMs, r.qos, cls, kind)
              added.push({
                seq,
                device: r.device,
                topic: r.topic,
                payload: r.payload,
                recvMs,
                eventMs: r.eventMs,
                qos: r.qos,
                cls,
                kind
              })
              return seq++
            },
            scanRaw: (afterSeq, limit) => (this.selectRaw.all(afterSeq, limit) as RawRow[]).map(this.toReading),
            remove: rows => {
              for (const r of rows)
                if (this.deleteOne.run(r.seq).changes > 0) {
                  this.txRemoved.push(r)
                  this.ledger.fate(r.seq, this.deviceId(r.device), r.device, 'compacted')
                }
            }
          })
        }
        nextSeq = seq
        this.setMeta.run('next_seq', seq)
        // Evictions run after the inserts, in the same transaction: the buffer never holds both.
        if (evictions.length > 0) {
          this.evictClasses = classesLowestFirst(
            this.lanes().map(l => l.cls),
            batch.map(r => r.cls ?? 0)
          )
          this.evictEndSeq = seq
          evicted = evictions.map(this.evictNow)
        }
        if (keptTrim > 0) trimmed = this.trimKeptNow(keptTrim)
        this.ledger.writeTotals()
      })()
    } catch (err) {
      this.ledger.discard()
      this.txLanes.clear()
      this.txRemoved = []
      this.hook?.rolledBack()
      for (const name of this.newDevices)
        this.deviceNames.delete(this.deviceIds.get(name)!) && this.deviceIds.delete(name)
      this.newDevices = []
      this.totals.commitErrors++
      this.lastOk = false
      const e = new HoldfastError(
        'HF_ERR_STORE_COMMIT',
        `buffer commit failed: ${(err as Error).message}`,
        { readings: batch.length },
        { cause: err }
      )
      for (const cb of cbs) cb(e, 0)
      return
    }
    this.newDevices = []
    this.lastOk = true
    this.nextSeq = nextSeq
    this.totals.committed += batch.length
    this.totals.commits++
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i]!
      if (r.eventMs !== null) this.recent.remember(r.device, r.topic, r.payload)
      if (r.kind === KIND_LOCAL) {
        this.keptUsage.readings++
        this.keptUsage.bytes += rowBytes(r.topic, r.payload)
        continue
      }
      this.account(r.device, 1, rowBytes(r.topic, r.payload))
      this.laneAdd(r.cls ?? 0, r.kind ?? KIND_RAW, 1)
      if (!this.oldestHint.has(r.device)) this.oldestHint.set(r.device, firstSeq + i)
    }
    for (const r of added) {
      this.account(r.device, 1, rowBytes(r.topic, r.payload))
      this.laneAdd(r.cls!, r.kind!, 1)
      if (!this.oldestHint.has(r.device)) this.oldestHint.set(r.device, r.seq)
    }
    for (const r of this.txRemoved) {
      this.account(r.device, -1, -rowBytes(r.topic, r.payload))
      this.laneAdd(r.cls ?? 0, r.kind ?? KIND_RAW, -1)
    }
    this.txRemoved = []
    for (const [k, n] of this.txLanes) this.laneCounts.set(k, (this.laneCounts.get(k) ?? 0) + n)
    this.txLanes.clear()
    this.keptUsage.readings -= trimmed.readings
    this.keptUsage.bytes -= trimmed.bytes
    this.hook?.committed()
    for (const e of evicted) {
      this.account(e.device, -e.readings, -e.bytes)
      this.oldestHint.set(e.device, e.nextHint)
      for (const l of this.evictListeners) l(e)
    }
    for (let i = 0; i < cbs.length; i++) cbs[i]!(null, firstSeq + i)
    for (const l of this.commitListeners) l()
  }

  /** True when this exact reading (with its own event time) is among the device's last stored ones. */
  isResend(reading: NewReading): boolean {
    return reading.eventMs !== null && this.recent.has(reading.device, reading.topic, reading.payload)
  }

  /**
   * Delete at least `readings` readings and `bytes` bytes of the device's buffered readings in the next
   * group commit, after its inserts (storage quotas: drop-oldest): lowest priority class first, oldest
   * first within a class. Listeners hear what was deleted.
   */
  evictOldest(device: string, readings: number, bytes: number, reason: string): void {
    this.evictions.push({ device, readings, bytes, reason })
    this.addPending(device, -readings, -bytes)
    this.schedule()
  }

  onEvict(listener: (done: Eviction) => void): void {
    this.evictListeners.push(listener)
  }

  /** What the device will hold once queued appends and evictions are committed. */
  projectedOf(device: string): Usage {
    const c = this.perDevice.get(device)
    const p = this.pendingBy.get(device)
    return { readings: (c?.readings ?? 0) + (p?.readings ?? 0), bytes: (c?.bytes ?? 0) + (p?.bytes ?? 0) }
  }

  /** Everything on disk once queued work commits: buffered readings and kept ones (the disk budget's measure). */
  projectedTotalBytes(): number {
    return this.usage.bytes + this.keptUsage.bytes + this.pendingAll.bytes
  }

  /** How many devices have readings waiting now. */
  devicesBuffered(): number {
    let n = 0
    for (const u of this.perDevice.values()) if (u.readings > 0) n++
    return n
  }

  /** Devices with buffered readings (or that had some since start). */
  bufferedDevices(): IterableIterator<string> {
    return this.perDevice.keys()
  }

  onCommit(listener: () => void): void {
    this.commitListeners.push(listener)
  }

  /** Oldest-first read of readings with seq > afterSeq. */
  readAfter(afterSeq: number, limit: number): StoredReading[] {
    return this.readRange(afterSeq, Number.MAX_SAFE_INTEGER, limit)
  }

  /** Oldest-first read of readings with afterSeq < seq < beforeSeq. */
  readRange(afterSeq: number, beforeSeq: number, limit: number): StoredReading[] {
    return (this.selectRange.all(afterSeq, beforeSeq, limit) as RawRow[]).map(this.toReading)
  }

  /** The newest readings with seq > afterSeq, returned oldest-first. */
  readNewest(afterSeq: number, limit: number): StoredReading[] {
    return (this.selectNewest.all(afterSeq, limit) as RawRow[]).reverse().map(this.toReading)
  }

  /** Delete readings the uplink has delivered, in one transaction. */
  release(readings: readonly StoredReading[]): void {
    if (readings.length === 0) return
    // A reading evicted (drop-oldest) while the uplink was sending it is already gone: count it once.
    const gone: StoredReading[] = []
    this.db.transaction(() => {
      for (const r of readings) if (this.deleteOne.run(r.seq).changes > 0) gone.push(r)
      this.releasedTotals(gone, null)
      this.resends.record(readings, this.idOf, this.deviceIds.size)
    })()
    for (const r of gone) {
      this.account(r.device, -1, -rowBytes(r.topic, r.payload))
      this.laneAdd(r.cls ?? 0, r.kind ?? KIND_RAW, -1)
    }
    this.totals.released += readings.length
  }

  /**
   * Release a run read in one go: `readings` must be every buffered reading with seq from the
   * first's to the last's (what readRange and readNewest return). One ranged DELETE instead of
   * one per row; RETURNING tells which rows were still there, so evicted ones count once.
   */
  releaseRun(readings: readonly StoredReading[]): void {
    if (readings.length === 0) return
    const first = readings[0]!.seq
    const last = readings[readings.length - 1]!.seq
    // Every row of a run belongs to one lane (what readLane returns); other lanes' rows in the range stay.
    const cls = readings[0]!.cls ?? 0
    const kind = readings[0]!.kind ?? KIND_RAW
    const bulk = cls === 0 && kind === KIND_RAW
    const keep = this.retainMs > 0 && kind === KIND_RAW
    const now = Date.now()
    const deleted = this.db.transaction(() => {
      // Retention: forwarded raw readings move to `kept` (same transaction), where the disk budget takes them first.
      if (keep) {
        if (bulk) this.keepRun.run(now + this.retainMs, now, first, last)
        else this.keepRunLane.run(now + this.retainMs, now, cls, kind, first, last)
      }
      this.resends.record(readings, this.idOf, this.deviceIds.size)
      const seqs = (
        bulk ? this.deleteRunBulk.all(first, last) : this.deleteRunLane.all(cls, kind, first, last)
      ) as number[]
      this.releasedTotals(readings, seqs.length === readings.length ? null : new Set(seqs))
      return seqs
    })()
    const present = deleted.length === readings.length ? null : new Set(deleted)
    for (const r of readings) {
      if (present !== null && !present.has(r.seq)) continue
      const b = rowBytes(r.topic, r.payload)
      this.account(r.device, -1, -b)
      if (keep) {
        this.keptUsage.readings++
        this.keptUsage.bytes += b
      }
    }
    this.laneAdd(cls, kind, -deleted.length)
    this.totals.released += readings.length
  }

  /** Inside a release transaction: lifetime released totals per device (readings and rollups apart). */
  private releasedTotals(readings: readonly StoredReading[], present: ReadonlySet<number> | null): void {
    try {
      for (const r of readings) {
        if (present !== null && !present.has(r.seq)) continue
        this.ledger.add(r.device, r.kind === KIND_ROLLUP ? 'released_rollups' : 'released', 1)
      }
      this.ledger.writeTotals()
    } catch (err) {
      this.ledger.discard()
      throw err
    }
  }

  /** One lane's readings with afterSeq < seq < beforeSeq, oldest first. */
  readLane(cls: number, kind: number, afterSeq: number, beforeSeq: number, limit: number): StoredReading[] {
    const rows =
      cls === 0 && kind === KIND_RAW
        ? this.selectLaneBulk.all(afterSeq, beforeSeq, limit)
        : this.selectLane.all(cls, kind, afterSeq, beforeSeq, limit)
    return (rows as RawRow[]).map(this.toReading)
  }

  /** The newest bulk raw readings (priority 0) with seq > afterSeq, returned oldest-first: the live lane. */
  readNewestBulk(afterSeq: number, limit: number): StoredReading[] {
    return (this.selectNewestBulk.all(afterSeq, limit) as RawRow[]).reverse().map(this.toReading)
  }

  /** Lanes holding readings: highest priority first, rollups before raw within a priority. */
  lanes(): Lane[] {
    const out: Lane[] = []
    for (const [k, n] of this.laneCounts) if (n > 0) out.push({ cls: Math.floor(k / 4), kind: k % 4, readings: n })
    return out.sort((a, b) => b.cls - a.cls || b.kind - a.kind)
  }

  laneCount(cls: number, kind: number): number {
    return this.laneCounts.get(laneKey(cls, kind)) ?? 0
  }

  /** The aggregator: runs inside every group commit. */
  setHook(hook: CommitHook): void {
    this.hook = hook
  }

  /** Commit soon even with nothing appended (the hook has windows to close). */
  requestCommit(): void {
    this.commitWanted = true
    this.schedule()
  }

  /** Ask the hook to free about `bytes` by compaction in the next commit. */
  requestCompaction(bytes: number): void {
    this.compactBytes = Math.max(this.compactBytes, bytes)
    this.requestCommit()
  }

  compactionPending(): boolean {
    return this.compactBytes > 0
  }

  /** A number kept in the meta table (the uplink budget's usage). */
  metaGet(key: string): number | undefined {
    return this.getMeta.get(key) as number | undefined
  }

  metaSet(entries: Record<string, number>): void {
    this.db.transaction(() => {
      for (const [k, v] of Object.entries(entries)) this.setMeta.run(k, v)
    })()
  }

  /** Keep forwarded raw readings this long (0 = delete them once Kafka has them). */
  setRetention(ms: number): void {
    this.retainMs = ms
  }

  keptTotal(): Readonly<Usage> {
    return this.keptUsage
  }

  /**
   * Delete the oldest kept readings worth at least `bytes` in the next group commit (the disk budget
   * takes retained readings first). Returns the bytes that will go.
   */
  trimKept(bytes: number): number {
    const available = this.keptUsage.bytes - this.keptTrim
    const b = Math.min(bytes, Math.max(0, available))
    if (b <= 0) return 0
    this.keptTrim += b
    this.pendingAll.bytes -= b
    this.requestCommit()
    return b
  }

  /** Delete kept readings whose time is up, oldest first (in the order they were kept). */
  sweepKept(now: number): number {
    let removed = 0
    for (;;) {
      const head = this.selectKeptHead.all(1024) as Array<[number, number, number]>
      let lastId = -1
      let bytes = 0
      let n = 0
      for (const [id, until, b] of head) {
        if (until > now) break
        lastId = id
        bytes += b + ROW_OVERHEAD_BYTES
        n++
      }
      if (lastId === -1) return removed
      this.deleteKeptTo.run(lastId)
      this.keptUsage.readings -= n
      this.keptUsage.bytes -= bytes
      removed += n
      if (n < head.length || head.length < 1024) return removed
    }
  }

  private trimKeptNow(bytes: number): Usage {
    const done: Usage = { readings: 0, bytes: 0 }
    while (done.bytes < bytes) {
      const head = this.selectKeptHead.all(1024) as Array<[number, number, number]>
      if (head.length === 0) break
      let lastId = -1
      for (const [id, , b] of head) {
        lastId = id
        done.readings++
        done.bytes += b + ROW_OVERHEAD_BYTES
        if (done.bytes >= bytes) break
      }
      this.deleteKeptTo.run(lastId)
    }
    return done
  }

  private laneAdd(cls: number, kind: number, n: number): void {
    const k = laneKey(cls, kind)
    this.laneCounts.set(k, (this.laneCounts.get(k) ?? 0) + n)
  }

  usageTotal(): Readonly<Usage> {
    return this.usage
  }

  usageOf(device: string): Readonly<Usage> {
    return this.perDevice.get(device) ?? { readings: 0, bytes: 0 }
  }

  oldestRecvMs(): number | null {
    return (this.selectOldest.get() as number | undefined) ?? null
  }

  /** False while the most recent commit failed (disk full, I/O error): /readyz reports it. */
  lastCommitOk(): boolean {
    return this.lastOk
  }

  lastSeq(): number {
    return this.nextSeq - 1
  }

  /** A device's name from its id in the database (the ledger's fates keep ids). */
  deviceName(id: number): string {
    return this.deviceNames.get(id) ?? String(id)
  }

  close(): void {
    this.flush()
    this.db.close()
  }

  private deviceId(name: string): number {
    let id = this.deviceIds.get(name)
    if (id === undefined) {
      id = Number(this.insertDevice.run(name).lastInsertRowid)
      this.deviceIds.set(name, id)
      this.deviceNames.set(id, name)
      this.newDevices.push(name)
    }
    return id
  }

  private addPending(device: string, readings: number, bytes: number): void {
    let p = this.pendingBy.get(device)
    if (p === undefined) this.pendingBy.set(device, (p = { readings: 0, bytes: 0 }))
    p.readings += readings
    p.bytes += bytes
    this.pendingAll.readings += readings
    this.pendingAll.bytes += bytes
  }

  /** Inside the commit transaction: delete the device's readings, lowest priority class first (evict-order.ts). */
  private readonly evictNow = (e: Eviction): Eviction & { nextHint: number } => {
    const from = this.oldestHint.get(e.device) ?? 0
    const id = this.deviceIds.get(e.device)
    if (id === undefined) return { device: e.device, readings: 0, bytes: 0, reason: e.reason, nextHint: from }
    const done = this.evictOrder.evict(
      id,
      from,
      this.evictEndSeq,
      this.evictClasses,
      e,
      r => r.n + r.topic.length + ROW_OVERHEAD_BYTES,
      r => {
        this.ledger.fate(r.seq, id, e.device, e.reason)
        const k = laneKey(r.cls, r.kind)
        this.txLanes.set(k, (this.txLanes.get(k) ?? 0) - 1)
      }
    )
    return { device: e.device, readings: done.readings, bytes: done.bytes, reason: e.reason, nextHint: done.bulkFrom }
  }

  private account(device: string, readings: number, bytes: number): void {
    let u = this.perDevice.get(device)
    if (u === undefined) this.perDevice.set(device, (u = { readings: 0, bytes: 0 }))
    u.readings += readings
    u.bytes += bytes
    this.usage.readings += readings
    this.usage.bytes += bytes
  }

  private readonly toReading = (r: RawRow): StoredReading => ({
    seq: r[0],
    device: this.deviceNames.get(r[1]) ?? String(r[1]),
    topic: r[2],
    payload: r[3],
    recvMs: this.corrections.length === 0 ? r[4] : this.corrected(r[0], r[4]),
    eventMs: r[5],
    qos: r[6],
    cls: r[7],
    kind: r[8]
  })

  private corrected(seq: number, recvMs: number): number {
    for (const c of this.corrections) if (seq >= c.firstSeq && seq <= c.lastSeq) return recvMs + c.offsetMs
    return recvMs
  }

  /**
   * Follow the wall clock (call once a second). When a box that booted unsynced gets the right
   * time, the readings it received meanwhile get a correction record; returns it, or null.
   */
  clockTick(): ClockCorrection | null {
    const offset = this.clock.check()
    if (offset === null) return null
    // Receive times stay ordered: nothing received from now on may sort before the corrected ones.
    this.lastRecvMs += offset
    const lastSeq = this.nextSeq - 1
    if (lastSeq < this.firstSeqThisBoot) return null
    const c = { firstSeq: this.firstSeqThisBoot, lastSeq, offsetMs: offset }
    this.setMeta.run(`clock:${c.firstSeq}-${c.lastSeq}`, offset)
    this.corrections.push(c)
    return c
  }
}
