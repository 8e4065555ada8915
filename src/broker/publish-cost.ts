/**
 * What a publish costs the rate quota's bytes bucket: its payload and the MQTT 5 properties the
 * gateway stores or passes on with it (User Properties' names and values, Content Type, Response
 * Topic, Correlation Data). A device sending 1-byte payloads with 64 KiB of User Properties each
 * otherwise went through `bytesPerS` as if it sent 1 byte.
 */
import type { PublishPacket } from 'aedes'

export function publishCost(packet: PublishPacket): number {
  const payload = (packet.payload as Buffer).length
  const p = packet.properties
  if (p === undefined) return payload
  let n = payload
  if (typeof p.contentType === 'string') n += Buffer.byteLength(p.contentType)
  if (typeof p.responseTopic === 'string') n += Buffer.byteLength(p.responseTopic)
  if (Buffer.isBuffer(p.correlationData)) n += p.correlationData.length
  const user = p.userProperties as Record<string, string | string[]> | undefined
  if (user !== undefined) {
    for (const name of Object.keys(user)) {
      const v = user[name]
      const values = Array.isArray(v) ? v : [v]
      for (const value of values) n += Buffer.byteLength(name) + Buffer.byteLength(String(value))
    }
  }
  return n
}
