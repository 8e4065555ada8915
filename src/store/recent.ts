/**
 * The last few readings each device stored, kept to recognise re-sends. A device that lost
 * a PUBACK (gateway killed between commit and ack, link dropped) publishes the same reading
 * again on its next connection; storing it twice would give it a second event id.
 * Only payloads that carry their own event time are compared: two such readings with the
 * same topic and bytes are the same reading, while a bare "1" sent twice is two readings.
 * Readings stored in this run are compared by their bytes; those restored at start from the
 * durable record (resend-record.ts) by their fingerprint.
 */
export const RECENT_PER_DEVICE = 64

/**
 * A 64-bit fingerprint of topic and payload: two MurmurHash3 (x86, 32-bit) lanes with different seeds.
 * SHA-256 through node:crypto costs ~5 us a call, a release of 200,000 readings a second; this costs a
 * few hundred ns. A false match needs a new reading colliding with one of the same device's last 64
 * within 2^-64: not a practical risk, and a device could only ever collide with its own readings.
 */
export function fingerprint(topic: string, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(8)
  out.writeUInt32BE(murmur3(0x9747b28c, topic, payload), 0)
  out.writeUInt32BE(murmur3(0x5bd1e995, topic, payload), 4)
  return out
}

function murmur3(seed: number, topic: string, payload: Buffer): number {
  let h = seed | 0
  let k: number
  // The topic's UTF-16 code units, then a separator no code unit can be, then the payload 4 bytes at a time.
  for (let i = 0; i <= topic.length; i++) {
    k = i < topic.length ? topic.charCodeAt(i) : 0x10000
    k = Math.imul(k, 0xcc9e2d51)
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593)
    h ^= k
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0
  }
  const n = payload.length
  const end = n & ~3
  for (let i = 0; i < end; i += 4) {
    k = payload[i]! | (payload[i + 1]! << 8) | (payload[i + 2]! << 16) | (payload[i + 3]! << 24)
    k = Math.imul(k, 0xcc9e2d51)
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593)
    h ^= k
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0
  }
  k = 0
  for (let i = n - 1; i >= end; i--) k = (k << 8) | payload[i]!
  if (n > end) {
    k = Math.imul(k, 0xcc9e2d51)
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593)
    h ^= k
  }
  h ^= n + topic.length
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

interface Ring {
  /** The topic, or null when only the fingerprint is known. */
  topics: Array<string | null>
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
  rememberFingerprint(device: string, fp: Buffer): void {
    this.put(device, null, null, fp)
  }

  has(device: string, topic: string, payload: Buffer): boolean {
    const r = this.rings.get(device)
    if (r === undefined) return false
    let fp: Buffer | null = null
    for (let i = 0; i < r.topics.length; i++) {
      const t = r.topics[i]
      if (t === null) {
        if (r.fps[i]!.equals((fp ??= fingerprint(topic, payload)))) return true
      } else if (t === topic && r.payloads[i]!.equals(payload)) return true
    }
    return false
  }

  forget(device: string): void {
    this.rings.delete(device)
  }

  private put(device: string, topic: string | null, payload: Buffer | null, fp: Buffer | null): void {
    let r = this.rings.get(device)
    if (r === undefined) this.rings.set(device, (r = { topics: [], payloads: [], fps: [], next: 0 }))
    r.topics[r.next] = topic
    r.payloads[r.next] = payload
    r.fps[r.next] = fp
    r.next = (r.next + 1) % RECENT_PER_DEVICE
  }
}
