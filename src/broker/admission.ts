/**
 * The admission step: the only place a device's PUBLISH becomes a stored reading.
 * The durable write happens inside authorizePublish because aedes writes the QoS 1
 * PUBACK right after that callback and before the `published` hook
 * (node_modules/aedes/lib/handlers/publish.js): holding the callback until the group
 * commit is what makes "PUBACK ⇒ on disk" true.
 *
 * Its parts, one job each: authenticate.ts (CONNECT), authorize-publish.ts (ACL, payload,
 * rate), admit-reading.ts (de-duplication, storage quotas, append), authorize-subscribe.ts,
 * sessions.ts (per-connection and per-device state), quota-status.ts (the status view).
 */
import { LogThrottle } from '../log-throttle.js'
import type { AedesPublishPacket, Client } from 'aedes'
import type { Classifier } from '../aggregate/classify.js'
import type { Relief } from '../aggregate/pressure.js'
import type { Config } from '../config/schema.js'
import { Accounts } from '../identity/accounts.js'
import type { Logger } from '../log.js'
import type { Counters, Refused } from '../metrics/counters.js'
import { QuotaBook } from '../quota/limits.js'
import { StorageGuard } from '../quota/storage.js'
import type { ReadingBuffer } from '../store/buffer.js'
import { createAdmitReading } from './admit-reading.js'
import { createAuthenticate } from './authenticate.js'
import { createAuthorizeForward } from './authorize-forward.js'
import { createAuthorizePublish, qos2Settled } from './authorize-publish.js'
import { createAuthorizeSubscribe } from './authorize-subscribe.js'
import type { AdmissionContext } from './context.js'
import { explicitlySubscribed } from './dollar-topics.js'
import { quotaStatus } from './quota-status.js'
import { SESSION_QUEUE_LIMIT } from './session-store.js'
import { createSubscribeRate } from './subscribe-rate.js'
import { Sessions } from './sessions.js'

export interface AdmissionOptions {
  config: Readonly<Config>
  buffer: ReadingBuffer
  counters: Counters
  log: Logger
  /** Priority, kind and parsed metrics of a reading (src/aggregate/classify.ts); absent = raw, priority 0. */
  classify?: Classifier
  /** Degrade before dropping (src/aggregate/pressure.ts): runs before the storage quotas decide. */
  relieve?: Relief
}

export function createAdmission(opts: AdmissionOptions) {
  const { buffer, counters, log } = opts
  let config = opts.config
  let book = new QuotaBook(config)
  const accounts = new Accounts({ devices: config.devices, apps: config.apps, dataDir: config.dataDir, log })
  const storage = new StorageGuard({
    buffer,
    book,
    maxBytes: config.store.maxBytes,
    minFreeBytes: config.store.minFreeBytes,
    dataDir: config.dataDir,
    counters,
    log
  })
  const sessions = new Sessions(
    counters,
    log,
    () => config,
    () => book
  )
  const ctx: AdmissionContext = {
    buffer,
    counters,
    log,
    sessions,
    storage,
    config: () => config,
    book: () => book,
    classify: opts.classify,
    relieve: opts.relieve
  }
  const auth = createAuthenticate(ctx, accounts)
  const subscribe = createAuthorizeSubscribe(ctx)

  /** A rotated or removed secret ends the sessions opened with it. */
  const closeSecretSessions = (ids: string[]): void => {
    for (const id of ids) {
      auth.forget(id)
      sessions.closeSecretSessions(id)
    }
  }

  const fitsClient = createAuthorizeForward(ctx)

  storage.start()
  accounts.watch(closeSecretSessions)

  const queueFullLogs = new LogThrottle()
  return {
    authenticate: auth.authenticate,
    authorizePublish: createAuthorizePublish(
      ctx,
      createAdmitReading(ctx),
      id => accounts.lookup(id)?.kind === 'device'
    ),
    authorizeSubscribe: subscribe.authorizeSubscribe,
    unsubscribed: subscribe.unsubscribed,
    paceSubscriptions: createSubscribeRate(ctx),
    /**
     * aedes authorizeForward: a `$` topic reaches only subscriptions that name it explicitly [MQTT-4.7.2-1];
     * nothing larger than an MQTT 5 client's Maximum Packet Size reaches it (authorize-forward.ts).
     */
    authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
      if (packet.topic.charCodeAt(0) === 36 && !explicitlySubscribed(client, packet.topic)) return null
      return fitsClient(client, packet)
    },
    clientGone: (client: Client): void => sessions.gone(client),
    /** aedes stored a QoS 2 packet until its PUBREL: from now on its incoming store counts it (authorize-publish.ts). */
    qos2Stored(client: Client, messageId: number): void {
      const state = sessions.of(client)
      if (state !== undefined) qos2Settled(state, messageId)
    },
    /** The device or app a client (connected, or its session kept after it left) belongs to, for counting. */
    ownerOf(client: Client): Refused | null {
      const state = sessions.of(client) ?? sessions.ofDeparted(client)
      return state !== undefined && state.id !== null ? state : auth.ownerOf(client.id)
    },

    /** The patched aedes did not send a message: too many already wait under the client's Receive Maximum. */
    forwardDropped(client: Client, topic: string): void {
      counters.refuse('forward_queue_full', sessions.of(client) ?? null)
      sessions.warn(
        sessions.of(client),
        { code: 'HF_ERR_FORWARD_QUEUE_FULL', client: client.id, topic, receiveMaximum: client.receiveMaximum },
        "message not sent: too many waiting under the client's Receive Maximum"
      )
    },

    /**
     * A message not queued for a persistent session: its queue holds its limit of messages
     * (SESSION_QUEUE_LIMIT) or bytes (mqtt.sessionQueueMaxBytes).
     */
    sessionQueueFull(clientId: string, topic: string, over: 'messages' | 'bytes'): void {
      const owner = auth.ownerOf(clientId)
      counters.refuse('forward_queue_full', owner)
      // A session away for long drops every message to it: logged at most every 10 s.
      const held = queueFullLogs.due('')
      if (held === null) return
      log.warn(
        {
          code: 'HF_ERR_FORWARD_QUEUE_FULL',
          client: clientId,
          ...(owner !== null ? { [owner.kind]: owner.id } : {}),
          topic,
          over,
          limit: over === 'bytes' ? config.mqtt.sessionQueueMaxBytes : SESSION_QUEUE_LIMIT,
          droppedSinceLastLog: held + 1
        },
        `message not queued: the client's persistent session already holds its limit of ${over}`
      )
    },

    /** The device a connection speaks for (authenticated devices only). */
    deviceOf(client: Client): string | null {
      return sessions.of(client)?.device?.id ?? null
    },

    /** Largest MQTT packet worth reading: the largest payload allowed plus a topic and headers. */
    maxPacketBytes(): number {
      return config.mqtt.maxPayloadBytes + 65_536 + 16
    },

    quotaOf: (id: string) => quotaStatus(ctx, id),
    storageView: () => storage.view(),

    /**
     * Live reconfiguration (remote configuration): checks `next` (throws a config error, nothing
     * changed) and returns the swap. Devices, apps, quotas, the disk budget and login/subscription
     * limits change in place; connections stay, except those whose secret or app account changed.
     */
    reconfigure(next: Readonly<Config>): () => void {
      const takeAccounts = accounts.reconfigure(next.devices, next.apps)
      const nextBook = new QuotaBook(next)
      return () => {
        const prev = config
        config = next
        book = nextBook
        storage.reconfigure({ book, maxBytes: next.store.maxBytes, minFreeBytes: next.store.minFreeBytes })
        auth.reconfigure(prev, next)
        sessions.retune(book)
        const changed = takeAccounts()
        closeSecretSessions(changed.devices)
        for (const name of changed.apps) {
          auth.forget(name)
          sessions.closeAppSessions(name)
        }
      }
    },
    accounts,

    close(): void {
      accounts.close()
      storage.close()
    }
  }
}

export type Admission = ReturnType<typeof createAdmission>
