/**
 * PUBLISH: topic, ACL, payload size, retained topics, then the rate quota. A device over its
 * messages/s or bytes/s (payload and MQTT 5 properties, publish-cost.ts) has its callback held until
 * its tokens allow, which pauses its socket reads (aedes reads the next chunk only once every packet
 * of the last one is done): TCP slows it.
 */
import type { Client, PublishPacket } from 'aedes'
import { deviceOfTopic } from '../codec/reading.js'
import { HoldfastError } from '../errors.js'
import type { AdmitReading } from './admit-reading.js'
import { publishCost } from './publish-cost.js'
import { sessionStoreOf } from './session-store.js'
import { rejectPublish, type AdmissionContext, type PublishDone } from './context.js'
import { Reason, withReason } from './reason-codes.js'
import { BAD_TOPIC_CHARS, MAX_TOPIC_LENGTH } from './topics.js'
import type { ConnState } from './sessions.js'

/**
 * QoS 2 publishes a 3.1.1 client may leave unreleased (no PUBREL yet): it has no Receive Maximum to
 * respect, and clients such as mqtt.js send hundreds at once before the first PUBREL.
 */
export const UNRELEASED_QOS2_V3 = 1000

export function createAuthorizePublish(
  ctx: AdmissionContext,
  admit: AdmitReading,
  /** A provisioned device (config or credentials file): apps may write only to those. */
  isDevice: (id: string) => boolean = () => true
) {
  const { counters, sessions } = ctx

  /** Clients already being disconnected for it: the rest of the same read is refused without a count. */
  const overLimit = new WeakSet<Client>()

  /** A client past its Receive Maximum (`limit`) broke the protocol: counted, logged, disconnected (MQTT 5: 0x93). */
  function overReceiveMaximum(client: Client, state: ConnState, limit: number, what: string, cb: PublishDone): void {
    if (!overLimit.has(client)) {
      overLimit.add(client)
      counters.refuse('receive_maximum', state)
      sessions.warn(
        state,
        { code: 'HF_ERR_RECEIVE_MAXIMUM', client: client.id, limit },
        `${what} over the Receive Maximum: disconnected`
      )
    }
    const err = new HoldfastError('HF_ERR_RECEIVE_MAXIMUM', undefined, { limit })
    err.message = `HF_ERR_RECEIVE_MAXIMUM: more than ${limit} ${what}`
    cb(withReason(err, Reason.RECEIVE_MAXIMUM_EXCEEDED, true))
  }

  return function authorizePublish(client: Client | null, packet: PublishPacket, done: PublishDone): void {
    if (client === null) return done(null)
    // A will sent after its Will Delay Interval comes when the connection has already gone.
    const state = sessions.of(client) ?? sessions.ofDeparted(client)
    const topic = packet.topic
    if (state === undefined)
      return done(new HoldfastError('HF_ERR_ACL_PUBLISH', 'publish from a client that never logged in'))
    // A QoS 2 re-send of a packet id still being admitted waits for that first copy: it is answered once
    // the first is stored (then it is a duplicate) or refused (then it is judged afresh). Answered
    // before, its PUBREC could leave before the reading is in SQLite, or say success for a refused one.
    if (packet.qos === 2 && !client.closed) {
      const parked = state.qos2Admitting.get(packet.messageId!)
      if (parked !== undefined) {
        // Gone by then: never acknowledged, so the client still has it (and it is no will).
        parked.push(() => {
          if (!client.closed) authorizePublish(client, packet, done)
        })
        return
      }
    }
    let cb = done
    // Seen, whatever becomes of the publish (a device whose every publish is refused is not silent).
    if (state.device !== null) state.device.stats.lastSeenMs = Date.now()
    // MQTT 5 Receive Maximum (advertised in CONNACK): a client past it broke the protocol. [MQTT-3.3.4-9]
    if (packet.qos > 0 && client.version === 5) {
      if (state.inflight >= state.receiveMaximum)
        return overReceiveMaximum(client, state, state.receiveMaximum, 'unacknowledged QoS 1/2 publishes', done)
      state.inflight++
      cb = err => {
        state.inflight--
        done(err)
      }
    }
    // QoS 2 publishes stay unacknowledged until their PUBREL, and aedes keeps each (payload too) until
    // then: past the Receive Maximum (MQTT 5) or UNRELEASED_QOS2_V3 (3.1.1) a client is disconnected, so
    // a client that never releases them cannot fill memory. A re-send of one of them is not a new one.
    // Those aedes has stored are counted there, those admitted and not yet stored (the rest of the same
    // read, or waiting for their group commit) in qos2Admitting, which aedes' store empties (server.ts).
    const resent = packet.qos === 2 && sessionStoreOf(client).incomingHas(client.id, packet.messageId!)
    if (packet.qos === 2 && !client.closed && !resent) {
      const unreleasedLimit = client.version === 5 ? state.receiveMaximum : UNRELEASED_QOS2_V3
      if (sessionStoreOf(client).incomingCount(client.id) + state.qos2Admitting.size >= unreleasedLimit)
        return overReceiveMaximum(client, state, unreleasedLimit, 'QoS 2 publishes not released by PUBREL', cb)
      const id = packet.messageId!
      state.qos2Admitting.set(id, [])
      const admitted = cb
      // Refused: aedes does not store it, and re-sends parked behind it are judged afresh.
      cb = err => {
        if (err !== null) qos2Settled(state, id)
        admitted(err)
      }
    }
    if (topic.length > MAX_TOPIC_LENGTH || BAD_TOPIC_CHARS.test(topic)) {
      return rejectPublish(
        ctx,
        client,
        state,
        state.device?.id ?? null,
        'invalid_topic',
        new HoldfastError('HF_ERR_TOPIC_INVALID', undefined, { length: topic.length }),
        cb
      )
    }
    if (!state.acl.canPublish(topic)) {
      const own =
        state.device !== null
          ? state.device.acl.prefix + '…'
          : state.kind === 'app'
            ? "the app's write filters"
            : 'anything but $SYS topics'
      return rejectPublish(
        ctx,
        client,
        state,
        state.device?.id ?? null,
        'acl_denied',
        new HoldfastError('HF_ERR_ACL_PUBLISH', undefined, { topic, allowed: own }),
        cb
      )
    }
    const device = state.device !== null ? state.device.id : deviceOfTopic(topic)
    // An app writing to a device id nobody provisioned would make a device of it (counters, status):
    // an app allowed devices/+/cmd/# made thousands. Refused unless anonymous devices are allowed.
    if (
      state.kind === 'app' &&
      device !== null &&
      !ctx.config().mqtt.allowAnonymous &&
      !isDevice(device) &&
      !sessions.knows(device)
    ) {
      return rejectPublish(
        ctx,
        client,
        state,
        null,
        'acl_denied',
        new HoldfastError('HF_ERR_ACL_PUBLISH', 'publish to a device that is not provisioned', { topic, device }),
        cb
      )
    }
    const payload = packet.payload as Buffer
    if (payload.length > state.payloadLimit) {
      if (device !== null) {
        counters.device(device).received++
        counters.received++
      }
      return rejectPublish(
        ctx,
        client,
        state,
        device,
        'payload_too_large',
        new HoldfastError('HF_ERR_PAYLOAD_TOO_LARGE', undefined, { bytes: payload.length, limit: state.payloadLimit }),
        cb
      )
    }
    if (packet.retain) {
      const limit = ctx.config().mqtt.maxRetainedPerClient
      if (!ctx.sessions.retained.admit(state.retainer, topic, payload.length === 0, limit)) {
        return rejectPublish(
          ctx,
          client,
          state,
          device,
          'retained_limit',
          new HoldfastError('HF_ERR_RETAINED_LIMIT', undefined, { topic, limit }),
          cb
        )
      }
    }
    const rt = state.device
    if (rt === null) return admit(client, state, packet, device, cb, false, resent)
    // A will comes after its connection closed: there is no socket to slow, so one over the device's
    // rate is dropped, counted (a device reconnecting in a loop stored wills past its quota).
    const cost = publishCost(packet)
    if (client.closed) {
      if (rt.throttle.pass(cost)) return admit(client, state, packet, device, cb, false, resent)
      return rejectPublish(
        ctx,
        client,
        state,
        device,
        'will_rate_limited',
        new HoldfastError('HF_ERR_WILL_RATE', undefined, { topic, bytes: cost }),
        cb
      )
    }
    if (rt.throttle.pass(cost)) admit(client, state, packet, device, cb, false, resent)
    else rt.throttle.hold(() => admit(client, state, packet, device, cb, true, resent))
  }
}

/**
 * A QoS 2 packet id of this connection has left admission: aedes stored it (server.ts' store hook) or
 * it was refused. Re-sends of it parked meanwhile run next, once the current turn is over.
 */
export function qos2Settled(state: ConnState, id: number): void {
  const parked = state.qos2Admitting.get(id)
  if (parked === undefined) return
  state.qos2Admitting.delete(id)
  if (parked.length > 0)
    setImmediate(() => {
      for (const resend of parked) resend()
    })
}
