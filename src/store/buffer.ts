/**
 * The store-and-forward buffer. Appends made in one turn of the event loop are committed
 * in one transaction (group commit) that assigns sequence numbers; only then are the
 * callbacks called, so a PUBACK always follows the fsync of its reading.
 */
import type { Statement } from 'better-sqlite3'
import { HoldfastError } from '../errors.js'
import type { DB } from './db.js'
import { RecentReadings, RECENT_PER_DEVICE } from './recent.js'

export interface NewReading { device: string, topic: string, payload: Buffer, eventMs: number | null, qos: number }
export interface StoredReading { seq: number, device: string, topic: string, payload: Buffer, recvMs: number, eventMs: number | null, qos: number }
export type AppendCallback = (err: HoldfastError | null, seq: number) => void
export interface Usage { readings: number, bytes: number }

/** Bytes a reading costs on disk beyond its payload and topic: row header, key, index. */
export const ROW_OVERHEAD_BYTES = 40
export const rowBytes = (topic: string, payload: Buffer): number => payload.length + topic.length + ROW_OVERHEAD_BYTES

interface Row { seq: number, device: number, topic: string, payload: Buffer, recv_ms: number, event_ms: number | null, qos: number }

export class ReadingBuffer {
  private readonly db: DB
  private readonly insert: Statement
  private readonly insertDevice: Statement
  private readonly setMeta: Statement
  private readonly selectAfter: Statement
  private readonly selectNewest: Statement
  private readonly selectOldest: Statement
  private readonly deleteOne: Statement
  private readonly deviceIds = new Map<string, number>()
  private readonly deviceNames = new Map<number, string>()
  private pending: NewReading[] = []
  private pendingCbs: AppendCallback[] = []
  private scheduled = false
  private nextSeq: number
  private lastRecvMs = 0
  private readonly usage: Usage = { readings: 0, bytes: 0 }
  private readonly perDevice = new Map<string, Usage>()
  private readonly recent = new RecentReadings()
  private readonly commitListeners: Array<() => void> = []
  /** Devices inserted by the open transaction, forgotten again if it rolls back. */
  private newDevices: string[] = []
  /** Totals since start, for the status API and metrics. */
  readonly totals = { committed: 0, commits: 0, released: 0, commitErrors: 0 }
  private lastOk = true

  constructor (db: DB) {
    this.db = db
    this.insert = db.prepare('INSERT INTO readings (seq, device, topic, payload, recv_ms, event_ms, qos) VALUES (?, ?, ?, ?, ?, ?, ?)')
    this.insertDevice = db.prepare('INSERT INTO devices (name) VALUES (?)')
    this.setMeta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
    this.selectAfter = db.prepare('SELECT seq, device, topic, payload, recv_ms, event_ms, qos FROM readings WHERE seq > ? ORDER BY seq LIMIT ?')
    this.selectNewest = db.prepare('SELECT seq, device, topic, payload, recv_ms, event_ms, qos FROM readings WHERE seq > ? ORDER BY seq DESC LIMIT ?')
    this.selectOldest = db.prepare('SELECT recv_ms FROM readings ORDER BY seq LIMIT 1').pluck()
    this.deleteOne = db.prepare('DELETE FROM readings WHERE seq = ?')

    for (const d of db.prepare('SELECT id, name FROM devices').all() as Array<{ id: number, name: string }>) {
      this.deviceIds.set(d.name, d.id)
      this.deviceNames.set(d.id, d.name)
    }
    // The sequence never goes back, even after every row was forwarded and deleted:
    // (gateway id, seq) is the reading's event id downstream.
    const metaSeq = (db.prepare("SELECT value FROM meta WHERE key = 'next_seq'").pluck().get() as number | undefined) ?? 1
    const maxSeq = (db.prepare('SELECT max(seq) FROM readings').pluck().get() as number | null) ?? 0
    this.nextSeq = Math.max(metaSeq, maxSeq + 1)
    const rows = db.prepare('SELECT device, count(*) AS n, sum(length(payload) + length(topic)) AS b FROM readings GROUP BY device').all() as Array<{ device: number, n: number, b: number }>
    for (const r of rows) {
      const u = { readings: r.n, bytes: r.b + r.n * ROW_OVERHEAD_BYTES }
      this.perDevice.set(this.deviceNames.get(r.device) ?? String(r.device), u)
      this.usage.readings += u.readings
      this.usage.bytes += u.bytes
    }
    const newest = db.prepare('SELECT recv_ms FROM readings ORDER BY seq DESC LIMIT 1').pluck().get() as number | undefined
    this.lastRecvMs = newest ?? 0
    // Re-sends arrive right after a restart: remember what each device stored last.
    const window = Math.max(RECENT_PER_DEVICE, this.perDevice.size * RECENT_PER_DEVICE)
    const tail = db.prepare('SELECT device, topic, payload FROM readings WHERE seq > ? AND event_ms IS NOT NULL ORDER BY seq').all(this.nextSeq - 1 - window) as Array<{ device: number, topic: string, payload: Buffer }>
    for (const r of tail) this.recent.remember(this.deviceNames.get(r.device) ?? String(r.device), r.topic, r.payload)
  }

  /** Queue a reading for the next group commit; `cb` runs after it is durable (or failed). */
  append (reading: NewReading, cb: AppendCallback): void {
    this.pending.push(reading)
    this.pendingCbs.push(cb)
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.flush)
    }
  }

  /** Commit everything queued, in one transaction. */
  readonly flush = (): void => {
    this.scheduled = false
    const batch = this.pending
    const cbs = this.pendingCbs
    if (batch.length === 0) return
    this.pending = []
    this.pendingCbs = []
    const firstSeq = this.nextSeq
    // Receive times never go backwards, whatever the wall clock does.
    const recvMs = this.lastRecvMs = Math.max(Date.now(), this.lastRecvMs)
    try {
      this.db.transaction(() => {
        let seq = firstSeq
        for (const r of batch) {
          this.insert.run(seq++, this.deviceId(r.device), r.topic, r.payload, recvMs, r.eventMs, r.qos)
        }
        this.setMeta.run('next_seq', seq)
      })()
    } catch (err) {
      for (const name of this.newDevices) this.deviceNames.delete(this.deviceIds.get(name)!) && this.deviceIds.delete(name)
      this.newDevices = []
      this.totals.commitErrors++
      this.lastOk = false
      const e = new HoldfastError('HF_ERR_STORE_COMMIT', `buffer commit failed: ${(err as Error).message}`, { readings: batch.length }, { cause: err })
      for (const cb of cbs) cb(e, 0)
      return
    }
    this.newDevices = []
    this.lastOk = true
    this.nextSeq = firstSeq + batch.length
    this.totals.committed += batch.length
    this.totals.commits++
    for (const r of batch) {
      this.account(r.device, 1, rowBytes(r.topic, r.payload))
      if (r.eventMs !== null) this.recent.remember(r.device, r.topic, r.payload)
    }
    for (let i = 0; i < cbs.length; i++) cbs[i]!(null, firstSeq + i)
    for (const l of this.commitListeners) l()
  }

  /** True when this exact reading (with its own event time) is among the device's last stored ones. */
  isResend (reading: NewReading): boolean {
    return reading.eventMs !== null && this.recent.has(reading.device, reading.topic, reading.payload)
  }

  onCommit (listener: () => void): void {
    this.commitListeners.push(listener)
  }

  /** Oldest-first read of readings with seq > afterSeq. */
  readAfter (afterSeq: number, limit: number): StoredReading[] {
    return (this.selectAfter.all(afterSeq, limit) as Row[]).map(this.toReading)
  }

  /** The newest readings with seq > afterSeq, returned oldest-first. */
  readNewest (afterSeq: number, limit: number): StoredReading[] {
    return (this.selectNewest.all(afterSeq, limit) as Row[]).reverse().map(this.toReading)
  }

  /** Delete readings the uplink has delivered, in one transaction. */
  release (readings: readonly StoredReading[]): void {
    if (readings.length === 0) return
    this.db.transaction(() => {
      for (const r of readings) this.deleteOne.run(r.seq)
    })()
    for (const r of readings) this.account(r.device, -1, -rowBytes(r.topic, r.payload))
    this.totals.released += readings.length
  }

  usageTotal (): Readonly<Usage> {
    return this.usage
  }

  usageOf (device: string): Readonly<Usage> {
    return this.perDevice.get(device) ?? { readings: 0, bytes: 0 }
  }

  oldestRecvMs (): number | null {
    return (this.selectOldest.get() as number | undefined) ?? null
  }

  /** False while the most recent commit failed (disk full, I/O error): /readyz reports it. */
  lastCommitOk (): boolean {
    return this.lastOk
  }

  lastSeq (): number {
    return this.nextSeq - 1
  }

  close (): void {
    this.flush()
    this.db.close()
  }

  private deviceId (name: string): number {
    let id = this.deviceIds.get(name)
    if (id === undefined) {
      id = Number(this.insertDevice.run(name).lastInsertRowid)
      this.deviceIds.set(name, id)
      this.deviceNames.set(id, name)
      this.newDevices.push(name)
    }
    return id
  }

  private account (device: string, readings: number, bytes: number): void {
    let u = this.perDevice.get(device)
    if (u === undefined) this.perDevice.set(device, u = { readings: 0, bytes: 0 })
    u.readings += readings
    u.bytes += bytes
    this.usage.readings += readings
    this.usage.bytes += bytes
  }

  private readonly toReading = (r: Row): StoredReading => ({
    seq: r.seq, device: this.deviceNames.get(r.device) ?? String(r.device), topic: r.topic, payload: r.payload, recvMs: r.recv_ms, eventMs: r.event_ms, qos: r.qos
  })
}
