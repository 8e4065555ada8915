/**
 * A durable record of each device's re-send window: (topic, payload fingerprint) → seq of the last
 * RECENT_PER_DEVICE readings it sent that carry their own event time. Buffered readings are their own
 * record; this table keeps them once they leave the buffer (forwarded to Kafka and deleted), written in
 * the same transaction as the delete. So after a restart a device re-sending a reading whose PUBACK it
 * lost is recognised, and acknowledged without a second copy, whether or not the original is still
 * buffered — Kafka never holds one reading under two event ids. The commit path pays nothing.
 */
import type { Statement } from 'better-sqlite3'
import type { DB } from './db.js'
import { fingerprint, RECENT_PER_DEVICE as PER_DEVICE } from './recent.js'

export interface Released {
  seq: number
  device: string
  topic: string
  payload: Buffer
  eventMs: number | null
  kind?: number
}

export interface Remembered {
  seq: number
  device: number
  topic: string
  fp: Buffer
}

export class ResendRecord {
  private readonly put: Statement
  /** Per device id, the ring slot the next reading takes. */
  private readonly nextSlot = new Map<number, number>()

  constructor(private readonly db: DB) {
    this.put = db.prepare(
      'INSERT INTO resend_window (device, slot, topic, fp, seq) VALUES (?, ?, ?, ?, ?) ON CONFLICT (device, slot) DO UPDATE SET topic = excluded.topic, fp = excluded.fp, seq = excluded.seq'
    )
    // The slot after each device's newest entry. SQLite takes the bare column from the max(seq) row.
    for (const r of db.prepare('SELECT device, slot, max(seq) FROM resend_window GROUP BY device').raw().all() as Array<
      [number, number, number]
    >)
      this.nextSlot.set(r[0], (r[1] + 1) % PER_DEVICE)
  }

  /** Every remembered reading, oldest first. */
  load(): Remembered[] {
    return this.db.prepare('SELECT seq, device, topic, fp FROM resend_window ORDER BY seq').all() as Remembered[]
  }

  /**
   * Inside the transaction that deletes released readings: remember the newest of them per device
   * (raw readings with their own event time, the only ones re-sends are matched against).
   */
  record(rows: readonly Released[], idOf: (device: string) => number | undefined): void {
    const taken = new Map<number, number>()
    // Newest first, so a long run writes only its last PER_DEVICE readings per device...
    const picked: Array<[number, Released]> = []
    for (let i = rows.length - 1; i >= 0; i--) {
      const r = rows[i]!
      if (r.eventMs === null || (r.kind ?? 0) !== 0) continue
      const id = idOf(r.device)
      if (id === undefined) continue
      const n = taken.get(id) ?? 0
      if (n >= PER_DEVICE) continue
      taken.set(id, n + 1)
      picked.push([id, r])
    }
    // ...then written oldest first, so the ring ends on the newest.
    for (let i = picked.length - 1; i >= 0; i--) {
      const [id, r] = picked[i]!
      const slot = this.nextSlot.get(id) ?? 0
      this.put.run(id, slot, r.topic, fingerprint(r.payload), r.seq)
      this.nextSlot.set(id, (slot + 1) % PER_DEVICE)
    }
  }
}
