/**
 * `$` topics in a plain broker's manner (MQTT 3.1.1 §4.7.2): anonymous clients may publish to `$`
 * topics other than `$SYS/…`, and such a message reaches only subscriptions whose first level
 * names it — never `#` or `+/…`. aedes already filters its live delivery that way; this guard also
 * covers messages queued for offline persistent sessions and retained ones sent on SUBSCRIBE.
 */
import type { Client } from 'aedes'
import { topicMatches } from '../identity/acl.js'
import { sharedFilter } from './topics.js'

/** True when one of the client's subscriptions (shared ones by their filter) names `topic` (a `$` topic) without a leading wildcard. */
export function explicitlySubscribed(client: Client, topic: string): boolean {
  const subs = (client as unknown as { subscriptions?: Record<string, unknown> }).subscriptions ?? {}
  for (const sub of Object.keys(subs)) {
    const filter = sharedFilter(sub)
    const c = filter.charCodeAt(0)
    if (c !== 43 && c !== 35 && topicMatches(filter.split('/'), topic)) return true
  }
  return false
}
