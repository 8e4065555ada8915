/**
 * Reading a lane's run for the forwarder, with what its release will need: per reading its seq, device
 * id and on-disk bytes, and the re-send record's entries (resend-record.ts), as flat typed arrays. The
 * forwarder's read worker (forward/read-worker.ts) runs this on its own connection and hands the arrays
 * over without a copy, so the broker thread releases a run without touching its readings again.
 */
import type { Statement } from 'better-sqlite3'
import type { DB } from './db.js'
import { KIND_RAW, rowBytes, type StoredReading } from './reading.js'
import { ENTRY_BYTES, writeEntry } from './resend-record.js'
import { COLS, LANE, type RawRow, rowReader } from './rows.js'

/** What releasing a run needs, one slot per reading in seq order. */
export interface RunPart {
  cls: number
  kind: number
  seqs: Float64Array
  devs: Uint32Array
  bytes: Uint32Array
  /** Re-send record entries for the readings re-sends are matched against (raw, with an event time). */
  resend: Uint8Array
}

export interface Run {
  readings: StoredReading[]
  part: RunPart
}

export interface RunReadsOptions {
  nameOf: (id: number) => string
  corrected: (seq: number, recvMs: number) => number
}

/**
 * Readings a page query returns at most. A page is two values built by SQLite (below), each at most 1 GB
 * (SQLite's limit). Topics are at most 1,024 characters (broker/topics.ts), so 10,000 rows of columns stay
 * far below it; payloads may not (10,000 of 256 KiB), and such a page is read row by row instead.
 */
const PAGE_ROWS = 10_000
/** Per reading, in seq order: the columns a StoredReading needs, and the payload's length in bytes. */
const META = `json_array(seq, device, topic, recv_ms, event_ms, qos, cls, kind, octet_length(payload), iif(props IS NULL, NULL, hex(props)))`
/**
 * A page of readings as two values: their columns as one JSON array, and their payloads end to end as
 * one blob. better-sqlite3 makes a JS value per column of each row, and a Buffer with its own memory per
 * payload; JSON.parse and views into one Buffer cost the drain half as much, and its garbage collector less.
 * The aggregates see the rows in the subquery's order; page() checks that they did.
 */
const PAGE = (where: string, order: 'ASC' | 'DESC'): string =>
  `SELECT json_group_array(${META}), CAST(group_concat(payload, '') AS BLOB) FROM (SELECT ${COLS} FROM readings WHERE ${where} ORDER BY seq ${order} LIMIT ?)`
/** A page's readings, and each one's device id. */
interface Page {
  readings: StoredReading[]
  devs: number[]
}
/** A page's JSON rows: seq, device, topic, recv_ms, event_ms, qos, cls, kind, payload bytes, props (hex) */
type MetaRow = [number, number, string, number, number | null, number, number, number, number, string | null]

export class RunReads {
  private readonly pageBulk: Statement
  private readonly pageLane: Statement
  private readonly pageNewestBulk: Statement
  private readonly selectBulk: Statement
  private readonly selectLane: Statement
  private readonly selectNewestBulk: Statement

  constructor(
    db: DB,
    private readonly o: RunReadsOptions
  ) {
    const bulk = 'seq > ? AND seq < ? AND cls = 0 AND kind = 0'
    const lane = `${LANE} AND cls = ? AND kind = ? AND seq > ? AND seq < ?`
    this.pageBulk = db.prepare(PAGE(bulk, 'ASC')).raw()
    this.pageLane = db.prepare(PAGE(lane, 'ASC')).raw()
    this.pageNewestBulk = db.prepare(PAGE(bulk, 'DESC')).raw()
    // Row by row: the way back for a page whose aggregates see its rows out of order, or that is too large.
    this.selectBulk = db.prepare(`SELECT ${COLS} FROM readings WHERE ${bulk} ORDER BY seq LIMIT ?`).raw()
    this.selectLane = db.prepare(`SELECT ${COLS} FROM readings WHERE ${lane} ORDER BY seq LIMIT ?`).raw()
    this.selectNewestBulk = db.prepare(`SELECT ${COLS} FROM readings WHERE ${bulk} ORDER BY seq DESC LIMIT ?`).raw()
  }

  /** One lane's readings with afterSeq < seq < beforeSeq, oldest first. */
  lane(cls: number, kind: number, afterSeq: number, beforeSeq: number, limit: number): Run {
    const bulk = cls === 0 && kind === KIND_RAW
    const pages: Page[] = []
    let after = afterSeq
    let n = 0
    while (n < limit) {
      const want = Math.min(PAGE_ROWS, limit - n)
      const args = bulk ? [after, beforeSeq, want] : [cls, kind, after, beforeSeq, want]
      const got = this.page(bulk ? this.pageBulk : this.pageLane, bulk ? this.selectBulk : this.selectLane, args, 1)
      pages.push(got)
      n += got.readings.length
      if (got.readings.length < want) break
      after = got.readings[got.readings.length - 1]!.seq
    }
    return this.run(pages, cls, kind)
  }

  /** The newest bulk raw readings (priority 0) with afterSeq < seq <= throughSeq, oldest first: the live lane. */
  newestBulk(afterSeq: number, throughSeq: number, limit: number): Run {
    const pages: Page[] = []
    let before = throughSeq + 1
    let n = 0
    while (n < limit) {
      const want = Math.min(PAGE_ROWS, limit - n)
      const got = this.page(this.pageNewestBulk, this.selectNewestBulk, [afterSeq, before, want], -1)
      got.readings.reverse()
      got.devs.reverse()
      pages.push(got)
      n += got.readings.length
      if (got.readings.length < want) break
      before = got.readings[0]!.seq
    }
    return this.run(pages.reverse(), 0, KIND_RAW)
  }

  /**
   * One page, in the order its query reads (1: ascending seqs, -1: descending). The aggregates' order is
   * SQLite's choice, not a promise: should the seqs not follow it, the page is read again row by row, and
   * so is a page too large for one value (SQLITE_TOOBIG).
   */
  private page(paged: Statement, rows: Statement, args: number[], dir: 1 | -1): Page {
    let values: [string, Buffer | null]
    try {
      values = paged.get(...args) as [string, Buffer | null]
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'SQLITE_TOOBIG') throw err
      return this.rowByRow(rows, args)
    }
    const [json, blob] = values
    const metas = JSON.parse(json) as MetaRow[]
    const n = metas.length
    const readings: StoredReading[] = new Array(n)
    const devs: number[] = new Array(n)
    let at = 0
    let prev = dir === 1 ? -Infinity : Infinity
    for (let i = 0; i < n; i++) {
      const m = metas[i]!
      if ((m[0] - prev) * dir <= 0) return this.rowByRow(rows, args)
      prev = m[0]
      const end = at + m[8]
      devs[i] = m[1]
      readings[i] = {
        seq: m[0],
        device: this.o.nameOf(m[1]),
        topic: m[2],
        payload: blob!.subarray(at, end),
        recvMs: this.o.corrected(m[0], m[3]),
        eventMs: m[4],
        qos: m[5],
        cls: m[6],
        kind: m[7],
        props: m[9] === null ? null : Buffer.from(m[9], 'hex')
      }
      at = end
    }
    if (at !== (blob?.length ?? 0)) return this.rowByRow(rows, args)
    return { readings, devs }
  }

  private rowByRow(rows: Statement, args: number[]): Page {
    const raw = rows.all(...args) as RawRow[]
    return { devs: raw.map(r => r[1]), readings: raw.map(rowReader(this.o, this.o)) }
  }

  private run(pages: readonly Page[], cls: number, kind: number): Run {
    const readings = pages.length === 1 ? pages[0]!.readings : pages.flatMap(p => p.readings)
    const b = new PartBuilder(cls, kind, readings.length)
    let i = 0
    for (const p of pages)
      for (let j = 0; j < p.readings.length; j++, i++) {
        const r = p.readings[j]!
        b.put(i, r.seq, p.devs[j]!, r.topic, r.payload, r.props ?? null, r.eventMs, r.kind ?? KIND_RAW)
      }
    return { readings, part: b.finish() }
  }
}

/** A run's release part from readings already in hand (tests, and runs read on the broker thread). */
export function partOf(readings: readonly StoredReading[], idOf: (device: string) => number | undefined): RunPart {
  const n = readings.length
  const b = new PartBuilder(readings[0]?.cls ?? 0, readings[0]?.kind ?? KIND_RAW, n)
  for (let i = 0; i < n; i++) {
    const r = readings[i]!
    b.put(i, r.seq, idOf(r.device) ?? 0, r.topic, r.payload, r.props ?? null, r.eventMs, r.kind ?? KIND_RAW)
  }
  return b.finish()
}

/** Fills a RunPart one reading at a time; finish() hands it over. */
class PartBuilder {
  private readonly part: RunPart
  private readonly blob: Buffer
  private o = 0

  constructor(cls: number, kind: number, n: number) {
    this.part = {
      cls,
      kind,
      seqs: new Float64Array(n),
      devs: new Uint32Array(n),
      bytes: new Uint32Array(n),
      resend: new Uint8Array(0)
    }
    this.blob = Buffer.allocUnsafeSlow(n * ENTRY_BYTES)
  }

  /** Reading i; `dev` 0 = a device the buffer does not know (no re-send entry). */
  put(
    i: number,
    seq: number,
    dev: number,
    topic: string,
    payload: Buffer,
    props: Buffer | null,
    eventMs: number | null,
    kind: number
  ): void {
    this.part.seqs[i] = seq
    this.part.devs[i] = dev
    this.part.bytes[i] = rowBytes(topic, payload, props)
    // Re-sends are matched against raw readings that carry their own event time.
    if (eventMs !== null && kind === KIND_RAW && dev !== 0)
      this.o = writeEntry(this.blob, this.o, seq, dev, topic, payload)
  }

  finish(): RunPart {
    this.part.resend = new Uint8Array(this.blob.buffer, this.blob.byteOffset, this.o)
    return this.part
  }
}
