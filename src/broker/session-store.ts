/**
 * aedes' in-memory session store (aedes-persistence) with what patches/aedes-persistence+10.3.1.patch
 * adds to it: synchronous views of a client's unreleased QoS 2 packets, ending a stored session at
 * once, and a bound on an away client's queue. The one place that reaches into aedes for it.
 */
import type { Aedes, Client, PublishPacket } from 'aedes'

export interface SessionStore {
  incomingHas(clientId: string, messageId: number): boolean
  incomingCount(clientId: string): number
  incomingClear(clientId: string): void
  /** End a stored (offline) session: its subscriptions, queue and unreleased QoS 2 packets. */
  sessionClear(clientId: string): void
  /** Away clients' queues: at most `limit` messages and `bytesLimit` bytes (`sizeOf` each; 0 = no byte cap). */
  setOutgoingQueueLimit(
    limit: number,
    onFull: (clientId: string, packet: { topic: string }, over: 'messages' | 'bytes') => void,
    bytesLimit: number,
    sizeOf: (packet: PublishPacket) => number
  ): void
}

/** Messages a persistent session may have queued while its client is away (patches/aedes-persistence). */
export const SESSION_QUEUE_LIMIT = 1000

interface BrokerInternals {
  persistence: SessionStore
  clients: Record<string, Client | undefined>
  clearSessionExpiry(clientId: string): void
}

/** The broker a client belongs to, with the internals Holdfast uses. */
export const brokerOf = (client: Client): BrokerInternals => (client as unknown as { broker: BrokerInternals }).broker

export const internalsOf = (aedes: Aedes): BrokerInternals => aedes as unknown as BrokerInternals

export const sessionStoreOf = (client: Client): SessionStore => brokerOf(client).persistence
