/**
 * aedes hands a client id's session to whoever connects with it [MQTT-3.1.4-2]: without an owner,
 * a device could kick another off, or inherit a persistent session's queued messages, by using
 * its client id. An id belongs to the device or app that holds it, while connected and, for
 * persistent sessions (clean=false), until restart (aedes keeps those sessions in memory).
 */
import type { Client } from 'aedes'
import type { Refused } from '../metrics/counters.js'

/** Client ids remembered with their owner; past this the oldest idle ones are forgotten. */
const MAX_OWNED_CLIENT_IDS = 100_000
/**
 * Persistent sessions (clean=false) one device or app may keep: each holds its subscriptions and up to
 * 1000 queued messages in memory, and a 3.1.1 one never expires. Past it the oldest idle one is ended.
 */
export const PERSISTENT_SESSIONS_PER_OWNER = 16

export class ClientIds {
  private readonly owners = new Map<string, { owner: string; live: number; persistent: boolean }>()

  /** `evict(client, id, owner)`: end the idle persistent session `id` (the claim by `client` went past the cap). */
  constructor(private readonly evict: (client: Client, id: string, owner: Refused) => void = () => {}) {}

  /** The device or app holding client id `id` (an away persistent session's owner), if any. */
  ownerOf(id: string): Refused | null {
    const o = this.owners.get(id)
    return o === undefined ? null : ownerParts(o.owner)
  }

  /** Held by a device or app (connected, or a persistent session). */
  isOwned(id: string): boolean {
    return this.owners.has(id)
  }

  /** Claim the client id for `owner`; false when another identity holds it. */
  claim(client: Client, owner: string): boolean {
    const id = client.id
    let o = this.owners.get(id)
    if (o !== undefined && o.owner !== owner) return false
    if (o === undefined) {
      if (this.owners.size >= MAX_OWNED_CLIENT_IDS) {
        for (const [k, v] of this.owners)
          if (v.live === 0) {
            this.owners.delete(k)
            break
          }
      }
      this.owners.set(id, (o = { owner, live: 0, persistent: false }))
    }
    o.live++
    const newlyPersistent = !o.persistent && !client.clean
    o.persistent ||= !client.clean
    if (newlyPersistent) this.capPersistent(client, owner)
    const entry = o
    client.conn.once('close', () => {
      entry.live--
      if (entry.live === 0 && !entry.persistent && this.owners.get(id) === entry) this.owners.delete(id)
    })
    return true
  }

  /** The owner's persistent sessions past the cap: the oldest idle ones end (Map order: first claimed first). */
  private capPersistent(client: Client, owner: string): void {
    let n = 0
    for (const v of this.owners.values()) if (v.owner === owner && v.persistent) n++
    if (n <= PERSISTENT_SESSIONS_PER_OWNER) return
    for (const [id, v] of this.owners) {
      if (n <= PERSISTENT_SESSIONS_PER_OWNER) return
      if (v.owner !== owner || !v.persistent || v.live > 0) continue
      this.owners.delete(id)
      n--
      this.evict(client, id, ownerParts(owner))
    }
  }
}

/** `device:pump-1` → the device pump-1 (owners are written `${kind}:${id}` by authenticate.ts). */
function ownerParts(owner: string): Refused {
  const at = owner.indexOf(':')
  return { kind: owner.slice(0, at) === 'app' ? 'app' : 'device', id: owner.slice(at + 1) }
}
