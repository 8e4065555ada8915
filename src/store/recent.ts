/**
 * The last few readings each device stored, kept to recognise re-sends. A device that lost
 * a PUBACK (gateway killed between commit and ack, link dropped) publishes the same reading
 * again on its next connection; storing it twice would give it a second event id.
 * Only payloads that carry their own event time are compared: two such readings with the
 * same topic and bytes are the same reading, while a bare "1" sent twice is two readings.
 */
export const RECENT_PER_DEVICE = 64

interface Ring {
  topics: string[]
  payloads: Buffer[]
  next: number
}

export class RecentReadings {
  private readonly rings = new Map<string, Ring>()

  remember(device: string, topic: string, payload: Buffer): void {
    let r = this.rings.get(device)
    if (r === undefined) this.rings.set(device, (r = { topics: [], payloads: [], next: 0 }))
    r.topics[r.next] = topic
    r.payloads[r.next] = payload
    r.next = (r.next + 1) % RECENT_PER_DEVICE
  }

  has(device: string, topic: string, payload: Buffer): boolean {
    const r = this.rings.get(device)
    if (r === undefined) return false
    for (let i = 0; i < r.payloads.length; i++) {
      if (r.topics[i] === topic && r.payloads[i]!.equals(payload)) return true
    }
    return false
  }

  forget(device: string): void {
    this.rings.delete(device)
  }
}
