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
import { COLS, LANE, type RawRow } from './rows.js'

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

export class RunReads {
  private readonly selectBulk: Statement
  private readonly selectLane: Statement
  private readonly selectNewestBulk: Statement

  constructor(
    db: DB,
    private readonly o: RunReadsOptions
  ) {
    this.selectBulk = db
      .prepare(`SELECT ${COLS} FROM readings WHERE seq > ? AND seq < ? AND cls = 0 AND kind = 0 ORDER BY seq LIMIT ?`)
      .raw()
    this.selectLane = db
      .prepare(
        `SELECT ${COLS} FROM readings WHERE ${LANE} AND cls = ? AND kind = ? AND seq > ? AND seq < ? ORDER BY seq LIMIT ?`
      )
      .raw()
    this.selectNewestBulk = db
      .prepare(
        `SELECT ${COLS} FROM readings WHERE seq > ? AND seq <= ? AND cls = 0 AND kind = 0 ORDER BY seq DESC LIMIT ?`
      )
      .raw()
  }

  /** One lane's readings with afterSeq < seq < beforeSeq, oldest first. */
  lane(cls: number, kind: number, afterSeq: number, beforeSeq: number, limit: number): Run {
    const rows = (
      cls === 0 && kind === KIND_RAW
        ? this.selectBulk.all(afterSeq, beforeSeq, limit)
        : this.selectLane.all(cls, kind, afterSeq, beforeSeq, limit)
    ) as RawRow[]
    return this.run(rows, cls, kind)
  }

  /** The newest bulk raw readings (priority 0) with afterSeq < seq <= throughSeq, oldest first: the live lane. */
  newestBulk(afterSeq: number, throughSeq: number, limit: number): Run {
    return this.run((this.selectNewestBulk.all(afterSeq, throughSeq, limit) as RawRow[]).reverse(), 0, KIND_RAW)
  }

  private run(rows: RawRow[], cls: number, kind: number): Run {
    const n = rows.length
    const b = new PartBuilder(cls, kind, n)
    const readings: StoredReading[] = new Array(n)
    for (let i = 0; i < n; i++) {
      const r = rows[i]!
      b.put(i, r[0], r[1], r[2], r[3], r[9], r[5], r[8])
      readings[i] = {
        seq: r[0],
        device: this.o.nameOf(r[1]),
        topic: r[2],
        payload: r[3],
        recvMs: this.o.corrected(r[0], r[4]),
        eventMs: r[5],
        qos: r[6],
        cls: r[7],
        kind: r[8],
        props: r[9]
      }
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
