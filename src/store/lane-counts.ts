/** Readings per forwarding lane, so the forwarder only queries lanes that hold something. */
import type { DB } from './db.js'
import { laneKey, type Lane } from './reading.js'

export class LaneCounts {
  private readonly counts = new Map<number, number>()
  /** Changes made inside the open transaction, applied once it commits. */
  private readonly inTx = new Map<number, number>()

  constructor(db: DB) {
    const rows = db.prepare('SELECT cls, kind, count(*) AS n FROM readings GROUP BY cls, kind').all() as Array<{
      cls: number
      kind: number
      n: number
    }>
    for (const l of rows) this.counts.set(laneKey(l.cls, l.kind), l.n)
  }

  add(cls: number, kind: number, n: number): void {
    const k = laneKey(cls, kind)
    this.counts.set(k, (this.counts.get(k) ?? 0) + n)
  }

  /** A change inside the open transaction. */
  addInTx(cls: number, kind: number, n: number): void {
    const k = laneKey(cls, kind)
    this.inTx.set(k, (this.inTx.get(k) ?? 0) + n)
  }

  committed(): void {
    for (const [k, n] of this.inTx) this.counts.set(k, (this.counts.get(k) ?? 0) + n)
    this.inTx.clear()
  }

  rolledBack(): void {
    this.inTx.clear()
  }

  /** Lanes holding readings: highest priority first, rollups before raw within a priority. */
  list(): Lane[] {
    const out: Lane[] = []
    for (const [k, n] of this.counts) if (n > 0) out.push({ cls: Math.floor(k / 4), kind: k % 4, readings: n })
    return out.sort((a, b) => b.cls - a.cls || b.kind - a.kind)
  }
}
