/**
 * The last few readings each device stored, kept to recognise re-sends. A device that lost
 * a PUBACK (gateway killed between commit and ack, link dropped) publishes the same reading
 * again on its next connection; storing it twice would give it a second event id.
 * Only payloads that carry their own event time are compared: two such readings with the
 * same topic and bytes are the same reading, while a bare "1" sent twice is two readings.
 * Each reading is kept as its 64-bit fingerprint, whether stored in this run or restored at start
 * from the durable record (resend-record.ts): 8 bytes in one flat array instead of a retained payload
 * (which kept its whole socket read alive: ~0.5 KB a reading, 32 MB of heap with 1,000 devices).
 */
export const RECENT_PER_DEVICE = 64

/** The two lanes of the last fingerprint computed (fingerprintLanes). */
const LANES = new Uint32Array(2)

/**
 * A 64-bit fingerprint of topic and payload: two MurmurHash3 (x86, 32-bit) lanes with different seeds.
 * SHA-256 through node:crypto costs ~5 us a call, a release of 200,000 readings a second; this costs a
 * few hundred ns. A false match needs a new reading colliding with one of the same device's last 64
 * within 2^-64: not a practical risk, and a device could only ever collide with its own readings.
 * The 8 bytes are persisted (resend_window): lane one, then lane two, big-endian, written at `at`.
 */
export function writeFingerprint(topic: string, payload: Buffer, into: Buffer, at: number): void {
  fingerprintLanes(topic, payload)
  into.writeUInt32BE(LANES[0]!, at)
  into.writeUInt32BE(LANES[1]!, at + 4)
}

/** Both lanes in one pass over topic and payload, into LANES. */
function fingerprintLanes(topic: string, payload: Buffer): void {
  let h1 = 0x9747b28c | 0
  let h2 = 0x5bd1e995 | 0
  let k: number
  // The topic's UTF-16 code units, then a separator no code unit can be, then the payload 4 bytes at a time.
  for (let i = 0; i <= topic.length; i++) {
    k = i < topic.length ? topic.charCodeAt(i) : 0x10000
    k = Math.imul(k, 0xcc9e2d51)
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593)
    h1 ^= k
    h1 = (Math.imul((h1 << 13) | (h1 >>> 19), 5) + 0xe6546b64) | 0
    h2 ^= k
    h2 = (Math.imul((h2 << 13) | (h2 >>> 19), 5) + 0xe6546b64) | 0
  }
  const n = payload.length
  const end = n & ~3
  for (let i = 0; i < end; i += 4) {
    k = payload[i]! | (payload[i + 1]! << 8) | (payload[i + 2]! << 16) | (payload[i + 3]! << 24)
    k = Math.imul(k, 0xcc9e2d51)
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593)
    h1 ^= k
    h1 = (Math.imul((h1 << 13) | (h1 >>> 19), 5) + 0xe6546b64) | 0
    h2 ^= k
    h2 = (Math.imul((h2 << 13) | (h2 >>> 19), 5) + 0xe6546b64) | 0
  }
  k = 0
  for (let i = n - 1; i >= end; i--) k = (k << 8) | payload[i]!
  if (n > end) {
    k = Math.imul(k, 0xcc9e2d51)
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593)
    h1 ^= k
    h2 ^= k
  }
  LANES[0] = finish(h1, n + topic.length)
  LANES[1] = finish(h2, n + topic.length)
}

function finish(h: number, length: number): number {
  h ^= length
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Words per device: RECENT_PER_DEVICE fingerprints of two lanes. */
const RING_WORDS = RECENT_PER_DEVICE * 2

export class RecentReadings {
  /** Each device's ring: its index into `fps` (RING_WORDS words each), `filled` and `next`. */
  private readonly ringOf = new Map<string, number>()
  private fps = new Uint32Array(16 * RING_WORDS)
  private filled = new Uint8Array(16)
  private next = new Uint8Array(16)

  remember(device: string, topic: string, payload: Buffer): void {
    fingerprintLanes(topic, payload)
    this.put(device, LANES[0]!, LANES[1]!)
  }

  /** A reading known only by its fingerprint (restored from the durable record). */
  rememberFingerprint(device: string, fp: Buffer): void {
    this.put(device, fp.readUInt32BE(0), fp.readUInt32BE(4))
  }

  has(device: string, topic: string, payload: Buffer): boolean {
    const ring = this.ringOf.get(device)
    if (ring === undefined) return false
    fingerprintLanes(topic, payload)
    const a = LANES[0]!
    const b = LANES[1]!
    const base = ring * RING_WORDS
    const end = base + this.filled[ring]! * 2
    for (let i = base; i < end; i += 2) if (this.fps[i] === a && this.fps[i + 1] === b) return true
    return false
  }

  private put(device: string, a: number, b: number): void {
    let ring = this.ringOf.get(device)
    if (ring === undefined) {
      ring = this.ringOf.size
      if (ring === this.filled.length) this.grow()
      this.ringOf.set(device, ring)
    }
    const at = ring * RING_WORDS + this.next[ring]! * 2
    this.fps[at] = a
    this.fps[at + 1] = b
    this.next[ring] = (this.next[ring]! + 1) % RECENT_PER_DEVICE
    if (this.filled[ring]! < RECENT_PER_DEVICE) this.filled[ring]!++
  }

  private grow(): void {
    const rings = this.filled.length * 2
    const fps = new Uint32Array(rings * RING_WORDS)
    fps.set(this.fps)
    this.fps = fps
    const filled = new Uint8Array(rings)
    filled.set(this.filled)
    this.filled = filled
    const next = new Uint8Array(rings)
    next.set(this.next)
    this.next = next
  }
}
