/**
 * Who may publish and subscribe where. Devices get a fixed rule built once at CONNECT (a string
 * prefix test per publish); app accounts get the topic filters from their config entry.
 *
 * Device rule: publish only under `devices/<own id>/…`; subscribe only within `devices/<own id>/cmd/#`.
 * `$` topics are out of reach of both, and of any wildcard at the first level. [MQTT-4.7.2-1]
 */

/** True when topic filter `filter` matches concrete topic `topic`. [MQTT-4.7.1] */
export function topicMatches(filter: readonly string[], topic: string): boolean {
  const levels = topic.split('/')
  if (topic.charCodeAt(0) === 36 && (filter[0] === '+' || filter[0] === '#')) return false
  for (let i = 0; i < filter.length; i++) {
    const f = filter[i]!
    if (f === '#') return true
    if (i >= levels.length) return false
    if (f !== '+' && f !== levels[i]) return false
  }
  return levels.length === filter.length
}

/** True when every topic `filter` can match is also matched by `pattern` (a subscription within a permission). */
export function filterCovers(pattern: readonly string[], filter: string): boolean {
  const levels = filter.split('/')
  if (filter.charCodeAt(0) === 36 && (pattern[0] === '+' || pattern[0] === '#')) return false
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!
    if (p === '#') return true
    if (i >= levels.length) return false
    const f = levels[i]!
    if (f === '#') return false
    if (p !== '+' && p !== f) return false
  }
  return levels.length === pattern.length
}

export interface Acl {
  canPublish: (topic: string) => boolean
  canSubscribe: (filter: string) => boolean
}

/** A device's own topics. */
export class DeviceAcl implements Acl {
  readonly prefix: string
  private readonly cmd: string
  private readonly cmdPrefix: string

  constructor(readonly id: string) {
    this.prefix = `devices/${id}/`
    this.cmd = `devices/${id}/cmd`
    this.cmdPrefix = `devices/${id}/cmd/`
  }

  canPublish(topic: string): boolean {
    return topic.length > this.prefix.length && topic.startsWith(this.prefix)
  }

  canSubscribe(filter: string): boolean {
    return filter === this.cmd || filter.startsWith(this.cmdPrefix)
  }
}

/** An app account's explicit permissions: `read` filters bound subscriptions, `write` filters bound publishes. */
export class AppAcl implements Acl {
  private readonly read: string[][]
  private readonly write: string[][]

  constructor(read: readonly string[], write: readonly string[]) {
    this.read = read.map(f => f.split('/'))
    this.write = write.map(f => f.split('/'))
  }

  canPublish(topic: string): boolean {
    return this.write.some(f => topicMatches(f, topic))
  }

  canSubscribe(filter: string): boolean {
    return this.read.some(p => filterCovers(p, filter))
  }
}

/**
 * Anonymous clients (--allow-anonymous, development): anywhere but `$SYS` for publishes. Other `$`
 * topics reach only subscriptions that name them (src/broker/dollar-topics.ts). [MQTT-4.7.2-1]
 */
export const OPEN_ACL: Acl = {
  canPublish: topic => topic !== '$SYS' && !topic.startsWith('$SYS/'),
  canSubscribe: () => true
}
