/**
 * SUBSCRIBE and UNSUBSCRIBE under the subscription rate quota (src/quota/filter-rate.ts): each
 * filter takes a token of the device's or app's bucket; a packet over it is held, in order, and
 * handed to aedes when the bucket allows. While it is held aedes reads no more of that client's
 * socket (its read loop waits for every packet of the last chunk), so TCP slows the client, as for
 * held publishes. aedes has no hook for UNSUBSCRIBE, so the gate sits between the client's packet
 * parser and aedes' dispatch (private API, checked for at run time).
 */
import type { Client } from 'aedes'
import type { EventEmitter } from 'node:events'
import { LogThrottle } from '../log-throttle.js'
import type { FilterRate } from '../quota/filter-rate.js'
import type { Held } from '../quota/pacer.js'
import type { AdmissionContext } from './context.js'

interface ClientInternals {
  _parser?: EventEmitter
  /** aedes' read loop: counts packets in progress, reads the next chunk when none is left. */
  _parsingBatch?: number
  _nextBatch?: () => void
}

interface FilterPacket {
  cmd: string
  subscriptions?: unknown[]
  unsubscriptions?: unknown[]
}

export function createSubscribeRate(ctx: AdmissionContext) {
  const { counters, log, sessions } = ctx
  // A client cycling filters is held again and again: one line per identity at most every 10 s.
  const logs = new LogThrottle()

  function held(client: Client, filters: number): void {
    const state = sessions.of(client)
    if (state === undefined) return
    counters.refuse('subscribe_rate_limited', state)
    const since = logs.due(state.id ?? client.id)
    if (since === null) return
    log.warn(
      {
        code: 'HF_WARN_SUBSCRIBE_RATE',
        client: client.id,
        [state.kind]: state.id,
        filters,
        heldSinceLastLog: since + 1
      },
      'subscribe/unsubscribe held: over the subscription rate quota'
    )
  }

  /** Put `client`'s SUBSCRIBE and UNSUBSCRIBE packets under the quota (call right after aedes.handle). */
  return function paceSubscriptions(client: Client): void {
    const c = client as unknown as ClientInternals
    const parser = c._parser
    if (parser === undefined || typeof c._nextBatch !== 'function' || typeof c._parsingBatch !== 'number') return
    const dispatch = parser.listeners('packet')
    if (dispatch.length !== 1) return
    const enqueue = dispatch[0] as (this: EventEmitter, packet: FilterPacket) => void
    parser.removeListener('packet', enqueue)
    /**
     * While a packet is held: it, then every packet that came after it, in order (MQTT handles a
     * connection's packets in order: a PUBLISH after a held SUBSCRIBE must not overtake it). Each is
     * counted once more as a packet in progress, so aedes' read loop reads nothing more meanwhile.
     */
    let waiting: FilterPacket[] | null = null
    /** The first of `waiting` in its bucket's queue (it has taken its tokens). */
    let holding: { rate: FilterRate; held: Held } | null = null

    /** Take `packet`'s tokens: true if it may go now; false: it is held (release runs when it may). */
    const mayGo = (packet: FilterPacket): boolean => {
      const filters = filtersOf(packet)
      const rate = filters > 0 ? sessions.of(client)?.filterRate : undefined
      if (rate === undefined || rate.pass(filters)) return true
      held(client, filters)
      holding = { rate, held: rate.hold(release) }
      return false
    }

    // The bucket is the device's, shared by its connections: a packet held on a connection that closes
    // gives its tokens back, or the device's next connection would wait for them; those behind it go
    // with the connection (unanswered, so the client sends them again).
    client.conn.once('close', () => {
      if (holding !== null) holding.rate.cancel(holding.held)
      holding = null
      waiting = null
    })

    const release = (): void => {
      const queue = waiting!
      waiting = null
      holding = null
      if (client.closed) return
      // The first one's tokens are taken; those after it go in order until one must wait again. Packets
      // read while this runs (aedes reads on once nothing is in progress) join the queue's end.
      waiting = queue
      let i = 0
      for (; i < queue.length; i++) {
        if (i > 0 && !mayGo(queue[i]!)) break
        enqueue.call(parser, queue[i]!)
        c._nextBatch!()
      }
      waiting = i < queue.length ? queue.slice(i) : null
    }

    parser.on('packet', function (this: EventEmitter, packet: FilterPacket) {
      if (waiting !== null) {
        c._parsingBatch!++
        waiting.push(packet)
        return
      }
      if (mayGo(packet)) return enqueue.call(this, packet)
      c._parsingBatch!++
      waiting = [packet]
    })
  }
}

function filtersOf(packet: FilterPacket): number {
  if (packet.cmd === 'subscribe') return packet.subscriptions?.length ?? 0
  if (packet.cmd === 'unsubscribe') return packet.unsubscriptions?.length ?? 0
  return 0
}
