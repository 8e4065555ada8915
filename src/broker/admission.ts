/**
 * The admission step: the only place a device's PUBLISH becomes a stored reading.
 * The durable write happens inside authorizePublish because aedes writes the QoS 1
 * PUBACK right after that callback and before the `published` hook
 * (node_modules/aedes/lib/handlers/publish.js): holding the callback until the group
 * commit is what makes "PUBACK ⇒ on disk" true. Holding it also pauses the client's
 * socket reads, so a flooding device is slowed through TCP.
 */
import type { AuthenticateError, Client, PublishPacket, Subscription } from 'aedes'
import { HoldfastError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Counters, DropReason } from '../metrics/counters.js'
import type { ReadingBuffer } from '../store/buffer.js'
import { deviceOfTopic, eventTimeOf } from '../codec/reading.js'
import { RECENT_PER_DEVICE } from '../store/recent.js'

export interface AdmissionOptions {
  allowAnonymous: boolean
  maxPayloadBytes: number
  buffer: ReadingBuffer
  counters: Counters
  log: Logger
}

/** Per-connection facts kept beside aedes' client. */
interface ConnState { device: string | null, publishes: number }
const conns = new WeakMap<Client, ConnState>()

const AUTH_BAD_CREDENTIALS = 4
const AUTH_NOT_AUTHORIZED = 5

function authError (returnCode: number, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError
}

export function createAdmission (opts: AdmissionOptions) {
  const { buffer, counters, log } = opts

  function reject (client: Client, device: string | null, reason: DropReason, err: HoldfastError, cb: (e?: Error | null) => void): void {
    counters.drop(device, reason)
    log.warn({ code: err.code, client: client.id, device, ...err.details }, err.message)
    cb(err)
  }

  return {
    authenticate (client: Client, username: string | undefined, password: Buffer | undefined, done: (err: AuthenticateError | null, ok: boolean | null) => void): void {
      if (opts.allowAnonymous) {
        conns.set(client, { device: null, publishes: 0 })
        return done(null, true)
      }
      counters.authFailures++
      const code = username === undefined ? 'HF_ERR_AUTH_ANONYMOUS' : 'HF_ERR_AUTH_BAD_CREDENTIALS'
      log.warn({ code, client: client.id, username }, 'client refused')
      done(authError(username === undefined ? AUTH_NOT_AUTHORIZED : AUTH_BAD_CREDENTIALS, code), false)
    },

    authorizePublish (client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void): void {
      if (client === null) return cb(null)
      const topic = packet.topic
      if (topic.startsWith('$')) {
        return reject(client, null, 'acl_denied', new HoldfastError('HF_ERR_ACL_PUBLISH', 'clients may not publish to $ topics', { topic }), cb)
      }
      const device = deviceOfTopic(topic)
      if (device === null) return cb(null)

      const stats = counters.device(device)
      stats.received++
      stats.lastSeenMs = Date.now()
      counters.received++
      const state = conns.get(client)
      if (state !== undefined && state.device !== device) {
        if (state.device !== null) counters.device(state.device).connections--
        state.device = device
        stats.connections++
      }
      const payload = packet.payload as Buffer
      if (payload.length > opts.maxPayloadBytes) {
        return reject(client, device, 'payload_too_large', new HoldfastError('HF_ERR_PAYLOAD_TOO_LARGE', undefined, { bytes: payload.length, limit: opts.maxPayloadBytes }), cb)
      }
      // A QoS 2 retransmission still awaiting PUBREL was stored the first time. [MQTT-4.3.3-2]
      if (packet.qos === 2 && (client as unknown as { _inboundInflight?: Set<number> })._inboundInflight?.has(packet.messageId!) === true) {
        return cb(null)
      }
      const reading = { device, topic, payload, eventMs: eventTimeOf(payload), qos: packet.qos }
      // Re-sends come flagged DUP or, from clients that do not flag them, first on a new connection.
      const fresh = state === undefined || state.publishes++ < RECENT_PER_DEVICE
      if ((packet.dup || fresh) && buffer.isResend(reading)) {
        counters.duplicates++
        stats.duplicates++
        return cb(null)
      }
      buffer.append(reading, (err) => {
        if (err !== null) return reject(client, device, 'store_error', err, cb)
        counters.stored++
        stats.stored++
        cb(null)
      })
    },

    authorizeSubscribe (client: Client, sub: Subscription, cb: (err: Error | null, sub?: Subscription | null) => void): void {
      cb(null, sub)
    },

    clientGone (client: Client): void {
      const state = conns.get(client)
      if (state?.device != null) counters.device(state.device).connections--
      conns.delete(client)
    }
  }
}

export type Admission = ReturnType<typeof createAdmission>
