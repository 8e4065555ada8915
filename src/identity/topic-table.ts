/**
 * Topic patterns (MQTT filters: `+` one level, `#` the rest, including the parent level) mapped to
 * settings, first match wins. Matching a topic costs a map lookup after its first time: results are
 * cached per topic (bounded), since a fleet publishes to a small, stable set of topics.
 */
import { topicMatches } from './acl.js'

const CACHE_LIMIT = 50_000

export class TopicTable<T> {
  private readonly entries: Array<{ filter: string[]; value: T }>
  private readonly cache = new Map<string, T | null>()

  constructor(entries: ReadonlyArray<{ filters: readonly string[]; value: T }>) {
    this.entries = entries.flatMap(e => e.filters.map(f => ({ filter: f.split('/'), value: e.value })))
  }

  get size(): number {
    return this.entries.length
  }

  /** The value of the first entry whose filter matches `topic`, or null. */
  match(topic: string): T | null {
    const hit = this.cache.get(topic)
    if (hit !== undefined) return hit
    let found: T | null = null
    for (const e of this.entries) {
      if (topicMatches(e.filter, topic)) {
        found = e.value
        break
      }
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear()
    this.cache.set(topic, found)
    return found
  }
}
