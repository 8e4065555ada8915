/** Re-send detection: is this exact reading (with its own event time) among the device's last stored ones? */
import type { DB } from './db.js'
import type { DeviceIds } from './devices.js'
import type { NewReading } from './reading.js'
import { RecentReadings, RECENT_PER_DEVICE } from './recent.js'
import type { ResendRecord } from './resend-record.js'

export class ResendCheck {
  private readonly recent = new RecentReadings()

  /**
   * Re-sends arrive right after a restart: remember what each of `devices` buffered devices stored last,
   * and what left the buffer before the restart (forwarded, deleted) from its durable `record`.
   */
  constructor(db: DB, ids: DeviceIds, lastSeq: number, devices: number, record: ResendRecord) {
    const window = Math.max(RECENT_PER_DEVICE, devices * RECENT_PER_DEVICE)
    type Row = { seq: number; device: number; topic: string; payload: Buffer }
    const tail = db
      .prepare('SELECT seq, device, topic, payload FROM readings WHERE seq > ? AND event_ms IS NOT NULL ORDER BY seq')
      .all(lastSeq - window) as Row[]
    // Raw readings of rollup-only topics live in `kept`: their re-sends must be recognised too.
    const keptTail = (
      db
        .prepare('SELECT seq, device, topic, payload FROM kept WHERE event_ms IS NOT NULL ORDER BY id DESC LIMIT ?')
        .all(window) as Row[]
    ).filter(r => r.seq > lastSeq - window)
    if (keptTail.length > 0) {
      tail.push(...keptTail)
      tail.sort((a, b) => a.seq - b.seq)
    }
    // Merged by seq, so each device's ring ends with what it stored last.
    const restored = record.load()
    let j = 0
    const restoreBefore = (seq: number): void => {
      for (; j < restored.length && restored[j]!.seq < seq; j++)
        this.recent.rememberFingerprint(ids.nameOf(restored[j]!.device), restored[j]!.fp)
    }
    for (const r of tail) {
      restoreBefore(r.seq)
      this.recent.remember(ids.nameOf(r.device), r.topic, r.payload)
    }
    restoreBefore(Number.POSITIVE_INFINITY)
  }

  isResend(reading: NewReading): boolean {
    return reading.eventMs !== null && this.recent.has(reading.device, reading.topic, reading.payload)
  }

  /** After a commit: the readings it stored. */
  remember(batch: readonly NewReading[]): void {
    for (const r of batch) if (r.eventMs !== null) this.recent.remember(r.device, r.topic, r.payload)
  }
}
