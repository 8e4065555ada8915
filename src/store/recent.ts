/**
 * The last few readings each device stored, kept to recognise re-sends. A device that lost
 * a PUBACK (gateway killed between commit and ack, link dropped) publishes the same reading
 * again on its next connection; storing it twice would give it a second event id.
 * Only payloads that carry their own event time are compared: two such readings with the
 * same topic and bytes are the same reading, while a bare "1" sent twice is two readings.
 * Readings stored in this run are compared by their bytes; those restored at start from the
 * durable record (resend-record.ts) by their payload's fingerprint.
 */
import { createHash } from 'node:crypto'

export const RECENT_PER_DEVICE = 64

/** SHA-256 of a payload: equal fingerprints are equal payloads, for any practical purpose. */
export const fingerprint = (payload: Buffer): Buffer => createHash('sha256').update(payload).digest()

interface Ring {
  topics: string[]
  /** The payload, or null when only its fingerprint is known. */
  payloads: Array<Buffer | null>
  fps: Array<Buffer | null>
  next: number
}

export class RecentReadings {
  private readonly rings = new Map<string, Ring>()

  remember(device: string, topic: string, payload: Buffer): void {
    this.put(device, topic, payload, null)
  }

  /** A reading known only by its fingerprint (restored from the durable record). */
  rememberFingerprint(device: string, topic: string, fp: Buffer): void {
    this.put(device, topic, null, fp)
  }

  has(device: string, topic: string, payload: Buffer): boolean {
    const r = this.rings.get(device)
    if (r === undefined) return false
    let fp: Buffer | null = null
    for (let i = 0; i < r.topics.length; i++) {
      if (r.topics[i] !== topic) continue
      const p = r.payloads[i]
      if (p != null) {
        if (p.equals(payload)) return true
      } else if (r.fps[i]!.equals((fp ??= fingerprint(payload)))) return true
    }
    return false
  }

  forget(device: string): void {
    this.rings.delete(device)
  }

  private put(device: string, topic: string, payload: Buffer | null, fp: Buffer | null): void {
    let r = this.rings.get(device)
    if (r === undefined) this.rings.set(device, (r = { topics: [], payloads: [], fps: [], next: 0 }))
    r.topics[r.next] = topic
    r.payloads[r.next] = payload
    r.fps[r.next] = fp
    r.next = (r.next + 1) % RECENT_PER_DEVICE
  }
}
