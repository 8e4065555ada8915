/**
 * Who holds which retained topics, for `mqtt.maxRetainedPerClient`: a topic belongs to the
 * identity whose retained message is in force on it (the last writer), counted against that
 * device or app account across all its connections and reconnects. Anonymous connections are
 * holders of their own, forgotten when they close.
 */
export class RetainedBook {
  private readonly owners = new Map<string, string>()
  private readonly held = new Map<string, Set<string>>()

  /** Record a retained publish (an empty payload clears the topic); false = over `limit`, nothing changed. */
  admit(holder: string, topic: string, clears: boolean, limit: number): boolean {
    const prev = this.owners.get(topic)
    if (clears) {
      if (prev !== undefined) this.release(prev, topic)
      return true
    }
    if (prev === holder) return true
    const mine = this.held.get(holder)
    if ((mine?.size ?? 0) >= limit) return false
    if (prev !== undefined) this.release(prev, topic)
    if (mine === undefined) this.held.set(holder, new Set([topic]))
    else mine.add(topic)
    this.owners.set(topic, holder)
    return true
  }

  /** Topics `holder` holds now. */
  count(holder: string): number {
    return this.held.get(holder)?.size ?? 0
  }

  /** Drop a holder's ownership (its retained messages stay in the broker, uncounted). */
  forget(holder: string): void {
    for (const t of this.held.get(holder) ?? []) this.owners.delete(t)
    this.held.delete(holder)
  }

  private release(holder: string, topic: string): void {
    const set = this.held.get(holder)
    set?.delete(topic)
    if (set?.size === 0) this.held.delete(holder)
    this.owners.delete(topic)
  }
}
