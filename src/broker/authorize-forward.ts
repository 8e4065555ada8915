/**
 * Messages on their way to a client. An MQTT 5 client that announced a Maximum Packet Size must
 * never get a larger packet [MQTT-3.1.2-24]: such a message is not sent to it (counted, logged), as
 * the specification says, while other subscribers still get it.
 */
import type { AedesPublishPacket, Client } from 'aedes'
import { generate } from 'mqtt-packet'
import type { AdmissionContext } from './context.js'

const WIRE_V5 = { protocolVersion: 5 }

export function createAuthorizeForward(ctx: AdmissionContext) {
  const { counters, sessions } = ctx
  return function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const max = client.maximumPacketSize
    if (client.version !== 5 || max === undefined) return packet
    // Its size on the wire to this client (message id 1 stands for the one aedes assigns next).
    const bytes = sizeOf(packet)
    if (bytes <= max) return packet
    counters.refuse('forward_too_large')
    sessions.warn(
      sessions.of(client),
      { code: 'HF_ERR_FORWARD_TOO_LARGE', client: client.id, topic: packet.topic, bytes, limit: max },
      "message over the client's Maximum Packet Size: not sent to it"
    )
    return null
  }
}

/** Bytes of the PUBLISH on an MQTT 5 wire; Infinity when its properties cannot be written at all. */
function sizeOf(packet: AedesPublishPacket): number {
  try {
    return generate(
      {
        cmd: 'publish',
        topic: packet.topic,
        payload: packet.payload,
        qos: packet.qos,
        retain: packet.retain,
        dup: false,
        messageId: packet.qos > 0 ? 1 : undefined,
        properties: packet.properties
      } as Parameters<typeof generate>[0],
      WIRE_V5
    ).length
  } catch {
    return Number.POSITIVE_INFINITY
  }
}
