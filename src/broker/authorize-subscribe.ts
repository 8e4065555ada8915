/** SUBSCRIBE: filter syntax, ACL (shared subscriptions by their filter) and the per-connection subscription limit. */
import type { Client, Subscription } from 'aedes'
import { HoldfastError } from '../errors.js'
import type { AdmissionContext } from './context.js'
import { BAD_TOPIC_CHARS, MAX_TOPIC_LENGTH, sharedFilter } from './topics.js'

export function createAuthorizeSubscribe(ctx: AdmissionContext) {
  const { counters, sessions } = ctx

  return {
    authorizeSubscribe(
      client: Client,
      sub: Subscription,
      cb: (err: Error | null, sub?: Subscription | null) => void
    ): void {
      const state = sessions.of(client)
      const filter = sub.topic
      if (state === undefined) return cb(null, null)
      if (filter.length > MAX_TOPIC_LENGTH || BAD_TOPIC_CHARS.test(filter)) {
        // Not UTF-8: the spec says close the connection. [MQTT-1.5.3-1]
        counters.refuse('invalid_topic')
        sessions.warn(
          state,
          { code: 'HF_ERR_TOPIC_INVALID', client: client.id, length: filter.length },
          'subscription filter invalid'
        )
        return cb(new HoldfastError('HF_ERR_TOPIC_INVALID', undefined, { length: filter.length }))
      }
      // A shared subscription `$share/<group>/<filter>` is allowed where its filter is. (aedes refused a malformed one.)
      if (!state.acl.canSubscribe(sharedFilter(filter))) {
        // Refused with SUBACK 0x80 for that filter; the connection and its other filters stay. [MQTT-3.9.3]
        counters.refuse('acl_subscribe')
        if (state.device !== null) state.device.stats.denied()
        sessions.warn(
          state,
          { code: 'HF_ERR_ACL_SUBSCRIBE', client: client.id, who: state.id, filter },
          'subscription refused'
        )
        return cb(null, null)
      }
      const limit = ctx.config().mqtt.maxSubscriptionsPerClient
      if (!state.subs.has(filter) && state.subs.size >= limit) {
        counters.refuse('subscription_limit')
        sessions.warn(state, { code: 'HF_ERR_SUBSCRIPTION_LIMIT', client: client.id, limit }, 'subscription refused')
        return cb(null, null)
      }
      state.subs.add(filter)
      cb(null, sub)
    },

    /** aedes 'unsubscribe' event: frees room under maxSubscriptionsPerClient. */
    unsubscribed(filters: string[], client: Client): void {
      const state = sessions.of(client)
      if (state !== undefined) for (const f of filters) state.subs.delete(f)
    }
  }
}
