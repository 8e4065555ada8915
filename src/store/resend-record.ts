/**
 * A durable record of the re-send window: fingerprints (64 bits of topic and payload) of the readings
 * that most recently left the buffer (forwarded to Kafka and deleted), with their device and seq.
 * Buffered readings are their own record; this one is written in the same transaction as the delete,
 * one row per released run, and read back at start. So a device re-sending a reading whose PUBACK it
 * lost is recognised after a restart whether or not the original is still buffered — Kafka never holds
 * one reading under two event ids. The group commit pays nothing; a release pays a hash per reading
 * and one row insert.
 *
 * It keeps at least RECENT_PER_DEVICE readings per device gateway-wide on average (the same window the
 * buffer's own tail gives at start), capped at MAX_ENTRIES.
 */
import type { Statement } from 'better-sqlite3'
import type { DB } from './db.js'
import { RECENT_PER_DEVICE, writeFingerprint } from './recent.js'

/** seq (float64), device id (uint32), fingerprint (8 bytes). */
export const ENTRY_BYTES = 20

/** Write one entry at `o` (the reading's seq, device id, fingerprint); returns the offset after it. */
export function writeEntry(
  blob: Buffer,
  o: number,
  seq: number,
  device: number,
  topic: string,
  payload: Buffer
): number {
  blob.writeDoubleBE(seq, o)
  blob.writeUInt32BE(device, o + 8)
  writeFingerprint(topic, payload, blob, o + 12)
  return o + ENTRY_BYTES
}

const MAX_ENTRIES = 262_144

export interface Remembered {
  seq: number
  device: number
  fp: Buffer
}

export class ResendRecord {
  private readonly insert: Statement
  private readonly deleteTo: Statement
  /** Rows on disk, oldest first: id and how many entries each holds. */
  private readonly rows: Array<{ id: number; n: number }> = []
  private entries = 0

  constructor(private readonly db: DB) {
    this.insert = db.prepare('INSERT INTO resend_window (entries) VALUES (?)')
    this.deleteTo = db.prepare('DELETE FROM resend_window WHERE id <= ?')
  }

  /** Every remembered reading, oldest first (call once, at start). */
  load(): Remembered[] {
    const out: Remembered[] = []
    for (const [id, blob] of this.db.prepare('SELECT id, entries FROM resend_window ORDER BY id').raw().all() as Array<
      [number, Buffer]
    >) {
      const n = Math.floor(blob.length / ENTRY_BYTES)
      this.rows.push({ id, n })
      this.entries += n
      for (let o = 0; o + ENTRY_BYTES <= blob.length; o += ENTRY_BYTES)
        out.push({
          seq: blob.readDoubleBE(o),
          device: blob.readUInt32BE(o + 8),
          fp: blob.subarray(o + 12, o + ENTRY_BYTES)
        })
    }
    return out.sort((a, b) => a.seq - b.seq)
  }

  /**
   * Inside the transaction that deletes released readings: remember those that re-sends are matched
   * against (entries written by writeEntry, run-reads.ts). `devices` is how many devices the buffer knows.
   */
  record(entries: Uint8Array, devices: number): void {
    const o = entries.length - (entries.length % ENTRY_BYTES)
    if (o === 0) return
    const id = Number(this.insert.run(Buffer.from(entries.buffer, entries.byteOffset, o)).lastInsertRowid)
    this.rows.push({ id, n: o / ENTRY_BYTES })
    this.entries += o / ENTRY_BYTES
    const keep = Math.min(MAX_ENTRIES, Math.max(RECENT_PER_DEVICE, devices * RECENT_PER_DEVICE))
    let dropTo = -1
    while (this.rows.length > 1 && this.entries - this.rows[0]!.n >= keep) {
      const head = this.rows.shift()!
      this.entries -= head.n
      dropTo = head.id
    }
    if (dropTo !== -1) this.deleteTo.run(dropTo)
  }
}
