/**
 * A publish that passed ACL, payload and rate checks becomes a reading: counted, de-duplicated,
 * weighed against the storage quotas and the disk budget, then appended. The callback (and so the
 * QoS 1 PUBACK) waits for the group commit that holds the reading.
 */
import type { Client, PublishPacket } from 'aedes'
import { payloadFormat } from '../aggregate/payload.js'
import { eventTimeOf } from '../codec/reading.js'
import { packMetadata, userPropertyPairs } from '../codec/metadata.js'
import { HoldfastError } from '../errors.js'
import type { NewReading } from '../store/reading.js'
import { RECENT_PER_DEVICE } from '../store/recent.js'
import { rowBytes } from '../store/reading.js'
import { rejectPublish, type AdmissionContext, type PublishDone } from './context.js'
import { protocolName, sessionFacts, type ConnState } from './sessions.js'

export function createAdmitReading(ctx: AdmissionContext) {
  const { buffer, counters, storage } = ctx

  function toReading(device: string, packet: PublishPacket): NewReading {
    const topic = packet.topic
    const payload = packet.payload as Buffer
    // MQTT 5: a declared Content Type / Payload Format Indicator decides how the payload is read.
    const p = packet.properties
    const format = p === undefined ? 'sniff' : payloadFormat(p.contentType, p.payloadFormatIndicator)
    // Stored with the reading and carried to Kafka; null (no bytes at all) without any.
    const props = p === undefined ? null : packMetadata(p.contentType, userPropertyPairs(p.userProperties))
    const c = ctx.classify?.(topic, payload, format)
    // No closure for the event time: one would allocate a context and a function for every reading.
    if (c === undefined)
      return { device, topic, payload, eventMs: eventTimeIn(payload, format), qos: packet.qos, props }
    return {
      device,
      topic,
      payload,
      eventMs: c.meta !== undefined ? c.eventMs! : eventTimeIn(payload, format),
      qos: packet.qos,
      cls: c.cls,
      kind: c.kind,
      keepMs: c.keepMs,
      meta: c.meta,
      props
    }
  }

  /**
   * `held`: the rate quota held this publish back; it runs now that tokens allow. `resent`: a QoS 2
   * re-send of a packet id aedes holds unreleased (decided when the publish came in).
   */
  return function admitReading(
    client: Client,
    state: ConnState,
    packet: PublishPacket,
    device: string | null,
    cb: PublishDone,
    held: boolean,
    resent: boolean
  ): void {
    // Held past the end of its connection: never acknowledged, so the device still has it. Not stored.
    if (held && client.closed) return
    if (device === null) return cb(null)
    const stats = state.device?.stats ?? counters.device(device)
    stats.received++
    stats.lastSeenMs = Date.now()
    counters.received++
    // A delayed will of an ended anonymous connection opens no session in the device's view.
    if (state.kind === 'anonymous' && state.seenDevice !== device && !state.gone) {
      if (state.seenDevice !== null) counters.device(state.seenDevice).connections--
      state.seenDevice = device
      stats.connections++
      stats.protocol = protocolName(client.version)
      state.closeSession?.()
      state.closeSession = stats.openSession(sessionFacts(client, 'anonymous'))
    }
    // A QoS 2 re-send of a packet id not yet released by PUBREL was stored the first time [MQTT-4.3.3-2]:
    // aedes answers it with PUBREC again without routing it, so it is a duplicate here too.
    if (resent) {
      counters.duplicates++
      stats.duplicates++
      return cb(null)
    }
    const reading = toReading(device, packet)
    stats.noteReading(reading.topic, reading.payload, reading.eventMs ?? null)
    // Re-sends come flagged DUP or, from clients that do not flag them, first on a new connection.
    const fresh = state.publishes++ < RECENT_PER_DEVICE
    if ((packet.dup || fresh) && buffer.resend.isResend(reading)) {
      counters.duplicates++
      stats.duplicates++
      return cb(null)
    }
    const bytes = rowBytes(reading.topic, reading.payload, reading.props)
    ctx.relieve?.(bytes, storage.budget())
    const verdict = storage.admit(device, bytes)
    if (verdict !== null) {
      const err =
        verdict === 'quota_storage'
          ? new HoldfastError('HF_ERR_QUOTA_STORAGE', undefined, {
              policy: ctx.book().of(device).storagePolicy,
              buffered: buffer.usage.projectedOf(device)
            })
          : new HoldfastError('HF_ERR_DISK_BUDGET', undefined, { budgetBytes: Math.round(storage.budget()) })
      return rejectPublish(ctx, client, state, device, verdict, err, cb)
    }
    buffer.writer.append(reading, err => {
      if (err !== null) return rejectPublish(ctx, client, state, device, 'store_error', err, cb)
      counters.stored++
      stats.stored++
      cb(null)
    })
  }
}

/** The reading's own event time, unless its declared format says the payload is not to be read. */
function eventTimeIn(payload: Buffer, format: ReturnType<typeof payloadFormat>): number | null {
  return format === 'opaque' ? null : eventTimeOf(payload)
}

export type AdmitReading = ReturnType<typeof createAdmitReading>
