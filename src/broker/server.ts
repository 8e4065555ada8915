/**
 * The MQTT broker: aedes behind a plain TCP listener and, when certificates are configured, a TLS
 * listener (client certificates optional). Before aedes sees a socket, the listener caps total
 * connections and new connections per second per source address (on the plain listener an MQTT 5
 * client refused so gets CONNACK 0x89/0x9F, refuse-connect.ts); while aedes parses, packets
 * larger than any allowed publish are refused before they are buffered. Every refusal is counted.
 */
import { LogThrottle } from '../log-throttle.js'
import { Aedes, type Client } from 'aedes'
import { createServer, type Server, type Socket } from 'node:net'
import type { Server as TlsServer, TLSSocket } from 'node:tls'
import type { Config } from '../config/schema.js'
import { ErrorCodes, HoldfastError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Counters, RefusalReason } from '../metrics/counters.js'
import { KeyedBuckets } from '../quota/keyed.js'
import type { Admission } from './admission.js'
import { publishCost } from './publish-cost.js'
import { internalsOf, SESSION_QUEUE_LIMIT, sessionStoreOf } from './session-store.js'
import { CONNACK_REASON, Reason } from './reason-codes.js'
import { createRefuser } from './refuse-connect.js'
import { createTlsListener } from './tls-listener.js'

export interface BrokerOptions {
  host: string
  port: number
  connectTimeoutMs: number
  maxConnections: number
  connRatePerAddress: number
  connBurstPerAddress: number
  sessionExpiryMaxS: number
  maxExpiringSessions: number
  sessionQueueMaxBytes: number
  serverKeepAliveS: number
  topicAliasMaximum: number
  tls: Config['mqtt']['tls']
  admission: Admission
  counters: Counters
  log: Logger
}

export interface Broker {
  aedes: Aedes
  server: Server
  tlsServer: TlsServer | null
  listening: () => boolean
  connections: () => number
  close: () => Promise<void>
}

/** Error messages aedes uses for ends of a session that are not malformed input. */
const NOT_PROTOCOL = new Set(['keep alive timeout', 'connection closed', 'drain timeout', 'packet too large'])

export async function startBroker(opts: BrokerOptions): Promise<Broker> {
  const { admission, counters, log } = opts
  const aedes = await Aedes.createBroker({
    connectTimeout: opts.connectTimeoutMs,
    authenticate: admission.authenticate,
    authorizePublish: admission.authorizePublish,
    authorizeSubscribe: admission.authorizeSubscribe,
    authorizeForward: admission.authorizeForward,
    // Client ids up to 128 chars: device ids are often serials or MACs with prefixes.
    maxClientsIdLength: 128,
    // Topics this deep are not device data; aedes refuses them before any hook runs.
    maxTopicLevels: 32,
    // MQTT 5 (README "MQTT 5"): limits advertised in CONNACK and applied by aedes.
    maximumPacketSize: admission.maxPacketBytes() + 5,
    sessionExpiryIntervalLimit: opts.sessionExpiryMaxS,
    pendingSessionsLimit: opts.maxExpiringSessions,
    keepaliveLimit: opts.serverKeepAliveS,
    topicAliasMaximum: opts.topicAliasMaximum
  })
  // aedes keeps a client's unreleased QoS 2 packets (no PUBREL yet) by client id for ever: a clean start
  // must not inherit them (its packet id 1 would pass for a re-send and not be routed), and a session
  // that ends with its connection must not leave them behind.
  aedes.on('client', c => {
    if ((c as Client & { _cleanStart?: boolean })._cleanStart === true) sessionStoreOf(c).incomingClear(c.id)
  })
  // Each QoS 2 packet aedes stores until its PUBREL settles its admission (authorize-publish.ts).
  internalsOf(aedes).persistence.setIncomingStoredHook(admission.qos2Stored)
  // A persistent session's queue is bounded (patches/aedes-persistence+10.3.1.patch), in messages and
  // in bytes (payload, MQTT 5 properties and topic): a session that never comes back, or one that
  // subscribes to its own commands and floods them, cannot fill memory.
  internalsOf(aedes).persistence.setOutgoingQueueLimit(
    SESSION_QUEUE_LIMIT,
    (clientId, packet, over) => admission.sessionQueueFull(clientId, packet.topic, over),
    opts.sessionQueueMaxBytes,
    packet => publishCost(packet) + packet.topic.length
  )
  aedes.on('clientDisconnect', c => {
    admission.clientGone(c)
    const holder = internalsOf(aedes).clients[c.id]
    if (c.clean && (holder === undefined || holder === c)) sessionStoreOf(c).incomingClear(c.id)
  })
  // The patched aedes' event (patches/aedes+2.0.0-beta.1.patch): a message over the wait limit of an MQTT 5 client's Receive Maximum.
  ;(aedes as unknown as NodeJS.EventEmitter).on('deliveryDropped', (c: Client, packet: { topic: string }) =>
    admission.forwardDropped(c, packet.topic)
  )
  aedes.on('unsubscribe', (subs, c) => admission.unsubscribed(subs as unknown as string[], c))
  // mqtt.maxExpiringSessions reached: a leaving MQTT 5 session (or delayed will) ends at once.
  ;(aedes as unknown as NodeJS.EventEmitter).on(
    'sessionLimitReached',
    (c: Client, info: { reason: string; limit: number }) => {
      const owner = admission.ownerOf(c)
      counters.refuse('session_evicted', owner)
      log.warn(
        {
          code: 'HF_WARN_SESSION_EVICTED',
          client: c.id,
          ...(owner?.id != null ? { [owner.kind]: owner.id } : {}),
          reason: info.reason,
          limit: info.limit
        },
        info.reason === 'willDelay'
          ? 'delayed will published at once: mqtt.maxExpiringSessions reached'
          : 'session ended at once: mqtt.maxExpiringSessions reached'
      )
    }
  )
  const onError = (c: Client | null, err: Error): void => {
    const reason = classify(err)
    if (reason !== null) counters.refuse(reason)
    const code = err instanceof HoldfastError ? err.code : reason === 'protocol_error' ? 'HF_ERR_PROTOCOL' : undefined
    log.debug({ code, client: c?.id ?? null, err: err.message, counted: reason }, 'client error')
  }
  aedes.on('clientError', onError)
  aedes.on('connectionError', onError)

  // Refusals of whole connections are many and alike under a flood: log each reason at most every 10 s.
  const refusalLogs = new LogThrottle<RefusalReason>()
  const refuser = createRefuser()
  const refuseSocket = (
    socket: Socket,
    reason: 'conn_limit' | 'conn_rate',
    code: 'HF_ERR_CONN_LIMIT' | 'HF_ERR_CONN_RATE',
    tell: boolean
  ): void => {
    counters.refuse(reason)
    // Plain TCP: an MQTT 5 CONNECT gets CONNACK 0x89/0x9F (refuse-connect.ts); TLS ones are not read.
    if (tell) refuser(socket, CONNACK_REASON[reason]!, `${code}: ${ErrorCodes[code]}`)
    else socket.destroy()
    const held = refusalLogs.due(reason)
    if (held !== null)
      log.warn(
        { code, address: socket.remoteAddress, refusedSinceLastLog: held + 1, open, limit: opts.maxConnections },
        'connection refused'
      )
  }

  const perAddress = new KeyedBuckets(opts.connRatePerAddress, opts.connBurstPerAddress)
  let open = 0
  /** Admission control on a raw socket (before TLS handshakes): false = refused; `tell`: plain MQTT, answered. */
  const gate = (socket: Socket, tell = false): boolean => {
    if (open >= opts.maxConnections) {
      refuseSocket(socket, 'conn_limit', 'HF_ERR_CONN_LIMIT', tell)
      return false
    }
    if (!perAddress.tryTake(socket.remoteAddress ?? 'unknown', Date.now())) {
      refuseSocket(socket, 'conn_rate', 'HF_ERR_CONN_RATE', tell)
      return false
    }
    open++
    socket.once('close', () => {
      open--
    })
    // Nagle would hold PUBACKs back for up to tens of ms.
    socket.setNoDelay(true)
    return true
  }
  const maxPacket = admission.maxPacketBytes()
  const handle = (socket: Socket | TLSSocket): void => {
    const client = aedes.handle(socket)
    armConnectTimeout(client, opts.connectTimeoutMs)
    admission.paceSubscriptions(client)
    guardPacketSize(client, maxPacket, cmd => {
      counters.refuse('packet_too_large')
      const device = admission.deviceOf(client)
      if (cmd === 'publish' && device !== null) counters.drop(device, 'payload_too_large')
      log.warn(
        { code: 'HF_ERR_PACKET_TOO_LARGE', client: client.id, device, cmd, limit: maxPacket },
        'packet over the size limit: connection closed'
      )
    })
  }

  const server = createServer((socket: Socket) => {
    if (gate(socket, true)) handle(socket)
  })
  await listen(server, opts.port, opts.host)
  log.info({ host: opts.host, port: opts.port }, 'mqtt listening')

  let tlsServer: TlsServer | null = null
  let stopWatching = (): void => {}
  const t = opts.tls
  if (t.certFile !== '' && t.keyFile !== '') {
    const l = createTlsListener({
      ...t,
      connectTimeoutMs: opts.connectTimeoutMs,
      // At most half the connection budget: the rest stays for clients that finish their handshake.
      maxHandshakesPerAddress: Math.max(1, Math.min(t.maxHandshakesPerAddress, Math.floor(opts.maxConnections / 2))),
      gate,
      handle,
      counters,
      log
    })
    tlsServer = l.server
    stopWatching = l.close
    const host = t.host !== '' ? t.host : opts.host
    await listen(tlsServer, t.port, host)
    log.info({ host, port: t.port, clientCerts: t.caFile !== '' }, 'mqtt tls listening')
  }

  return {
    aedes,
    server,
    tlsServer,
    listening: () => server.listening,
    connections: () => aedes.connectedClients,
    close: async () => {
      // Stop accepting first; the listeners' close completes once aedes has ended every client.
      stopWatching()
      const stopped = Promise.all(
        [server, tlsServer]
          .filter(s => s !== null)
          .map(async s => await new Promise<void>(resolve => s.close(() => resolve())))
      )
      await new Promise<void>(resolve => aedes.close(() => resolve()))
      await stopped
      admission.close()
    }
  }
}

async function listen(server: Server, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

/** What a client error means for the counters; null when it is no bad input or was counted where it arose. */
function classify(err: Error): RefusalReason | null {
  if (err instanceof HoldfastError) {
    if (err.code === 'HF_ERR_CONNECT_TIMEOUT') return 'connect_timeout'
    if (err.code === 'HF_ERR_PROTOCOL') return 'protocol_error'
    return null
  }
  // Socket errors (ECONNRESET, …) and aedes' own ends of a session are no bad input. What remains comes
  // from aedes' packet handlers refusing a well-formed packet (a wildcard in a publish topic, too many levels).
  if (typeof (err as NodeJS.ErrnoException).code === 'string' || NOT_PROTOCOL.has(err.message)) return null
  // A 3.1.1 CONNECT asking a longer keep-alive (or none) than mqtt.serverKeepAliveS (patched aedes).
  if (err.message === 'keep alive limit exceeded') return 'keepalive_limit'
  return 'protocol_error'
}

/**
 * Our own CONNECT deadline in aedes' timer slot (aedes clears that slot when CONNECT arrives or the client
 * closes), so a late CONNECT is a coded error rather than a message text to recognise.
 */
function armConnectTimeout(client: Client, ms: number): void {
  const slot = client as unknown as { _connectTimer?: NodeJS.Timeout | null }
  if (slot._connectTimer !== undefined && slot._connectTimer !== null) clearTimeout(slot._connectTimer)
  slot._connectTimer = setTimeout(() => {
    client.emit('error', new HoldfastError('HF_ERR_CONNECT_TIMEOUT', undefined, { ms }))
  }, ms)
}

/**
 * Refuse a packet as soon as its fixed header announces more bytes than any allowed publish,
 * instead of buffering up to 256 MB per connection first. mqtt-packet has no such limit, so its
 * per-client parser's length step is wrapped (private API, checked for at run time).
 */
function guardPacketSize(client: Client, limit: number, onRefused: (cmd: string) => void): void {
  const parser = (client as unknown as { _parser?: Record<string, unknown> })._parser
  if (parser === undefined || typeof parser._parseLength !== 'function' || typeof parser._emitError !== 'function')
    return
  const parseLength = parser._parseLength as () => boolean
  const emitError = parser._emitError as (e: Error) => void
  // Whatever the parser refuses is malformed input: coded here, where that is known.
  parser._emitError = function (this: unknown, e: Error): void {
    emitError.call(
      this,
      e instanceof HoldfastError ? e : new HoldfastError('HF_ERR_PROTOCOL', e.message, {}, { cause: e })
    )
  }
  const latch = client as unknown as { _rejectingPacketTooLarge?: boolean }
  parser._parseLength = function (this: {
    packet: { length: number; cmd: string }
    _emitError: (e: Error) => void
  }): boolean {
    const ok = parseLength.call(this)
    if (ok && this.packet.length > limit) {
      if (latch._rejectingPacketTooLarge === true) return false
      // aedes' own check (the same limit, advertised to MQTT 5 clients) then stays quiet.
      latch._rejectingPacketTooLarge = true
      onRefused(this.packet.cmd)
      if (client.version === 5 && client.connected) {
        // MQTT 5: DISCONNECT 0x95 with a Reason String, then close. [MQTT-3.2.2-15]
        const why = `HF_ERR_PACKET_TOO_LARGE: packet of ${this.packet.length} bytes over the limit of ${limit}`
        client.disconnect({ reasonCode: Reason.PACKET_TOO_LARGE, properties: { reasonString: why } }, () => {})
        return false
      }
      this._emitError(new HoldfastError('HF_ERR_PACKET_TOO_LARGE', undefined, { bytes: this.packet.length, limit }))
      return false
    }
    return ok
  }
}
