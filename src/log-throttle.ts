/**
 * Warnings that come in floods (refusals under a reconnect loop or a connection flood): each key is
 * logged at most once every `everyMs`, with how many were held back meanwhile. Counters count every one.
 */
export class LogThrottle<K = string> {
  private readonly last = new Map<K, { at: number; held: number }>()

  constructor(
    private readonly everyMs = 10_000,
    /** Past this many keys the memory starts afresh (keys may be per device or app). */
    private readonly maxKeys = 10_000
  ) {}

  /** One more of `key`: null when it is not logged now, else how many were held back since its last line. */
  due(key: K, now = Date.now()): number | null {
    const l = this.last.get(key)
    if (l !== undefined && now - l.at < this.everyMs) {
      l.held++
      return null
    }
    if (l === undefined && this.last.size >= this.maxKeys) this.last.clear()
    this.last.set(key, { at: now, held: 0 })
    return l?.held ?? 0
  }
}
