/**
 * What the buffer holds on disk, per device and in total, and what it will hold once queued appends,
 * evictions and trims commit: the figures storage quotas and the disk budget decide on.
 */
import type { Statement } from 'better-sqlite3'
import type { DB } from './db.js'
import type { DeviceIds } from './devices.js'
import { PROPS_BYTES_SQL, ROW_OVERHEAD_BYTES, type Usage } from './reading.js'
import { type Listed, ZeroedEntries, zeroValues } from './zeroed-entries.js'

const zero = (): Usage => ({ readings: 0, bytes: 0 })

/**
 * Per device and priority class at start: buffered readings, their bytes and the lowest seq (one scan,
 * shared by usage and evictions).
 */
export interface DeviceTotals {
  device: string
  cls: number
  readings: number
  bytes: number
  lowestSeq: number
}

export function deviceTotals(db: DB, devices: DeviceIds): DeviceTotals[] {
  const rows = db
    .prepare(
      `SELECT device, cls, count(*) AS n, sum(length(payload) + length(topic) + ${PROPS_BYTES_SQL}) AS b, min(seq) AS lo FROM readings GROUP BY device, cls`
    )
    .all() as Array<{ device: number; cls: number; n: number; b: number; lo: number }>
  return rows.map(r => ({
    device: devices.nameOf(r.device),
    cls: r.cls,
    readings: r.n,
    bytes: r.b + r.n * ROW_OVERHEAD_BYTES,
    lowestSeq: r.lo
  }))
}

/** Bytes per priority class, committed or pending. A class that drops to zero keeps its entry (readers skip zeros; zeroed-entries.ts says why). */
type ClassBytes = Map<number, number>
const addTo = (m: ClassBytes, cls: number, bytes: number): void => {
  m.set(cls, (m.get(cls) ?? 0) + bytes)
}

/** A device's queued (or held) changes. */
interface TallyEntry extends Usage, Listed {
  readonly device: string
  readonly classes: ClassBytes
}

/** Per-device changes taken in bulk at every commit (queued appends, or those the commit worker holds). */
type Tally = ZeroedEntries<TallyEntry>
/** The changes of one group the commit worker holds: per device, and in all. */
interface Held {
  tally: Tally
  readonly all: Usage
}
const tally = (): Tally =>
  new ZeroedEntries<TallyEntry>(
    device => ({ device, readings: 0, bytes: 0, classes: new Map(), listed: false }),
    e => {
      e.readings = e.bytes = 0
      zeroValues(e.classes)
    }
  )

export class UsageLedger {
  private readonly total = zero()
  private readonly perDevice = new Map<string, Usage>()
  /** Raw readings kept after forwarding (and raw readings of rollup-only topics). */
  readonly kept = zero()
  /**
   * Appends not yet committed, minus evictions requested: what quotas must count before the commit; per
   * device also bytes per priority class, like `classes`.
   */
  private pending = tally()
  private readonly pendingAll = zero()
  /** Per device, bytes per priority class (committed; queued and held ones are in their Tally): who the disk budget takes first. */
  private readonly classes = new Map<string, ClassBytes>()
  /** Committed bytes per priority class over all devices: which classes the disk budget walks. */
  private readonly classTotals: ClassBytes = new Map()
  /**
   * Appends handed to the commit worker and not yet answered, one tally per group in flight, oldest
   * first: still counted, like pending ones. Released tallies are kept for reuse (no garbage per commit).
   */
  private readonly held: Held[] = []
  private readonly spareHeld: Held[] = []
  /**
   * Per device with buffered readings: committed + queued + held bytes (projectedOf's bytes), kept up to
   * date so the disk budget can walk every device per reading without a lookup or an allocation each.
   */
  private readonly projectedAt = new Map<string, number>()
  /** Parallel arrays, indexed by projectedAt: names and projected bytes (a walk over them allocates nothing). */
  private readonly projectedNames: string[] = []
  private readonly projectedBytesAt: number[] = []
  private readonly selectOldest: Statement

  constructor(db: DB, start: readonly DeviceTotals[]) {
    this.selectOldest = db.prepare('SELECT recv_ms FROM readings ORDER BY seq LIMIT 1').pluck()
    for (const d of start) this.account(d.device, d.readings, d.bytes, d.cls)
    const kept = db
      .prepare(`SELECT count(*) AS n, sum(length(payload) + length(topic) + ${PROPS_BYTES_SQL}) AS b FROM kept`)
      .get() as {
      n: number
      b: number | null
    }
    this.kept.readings = kept.n
    this.kept.bytes = (kept.b ?? 0) + kept.n * ROW_OVERHEAD_BYTES
  }

  /** Committed change of a device's buffered readings of priority class `cls`. */
  account(device: string, readings: number, bytes: number, cls: number): void {
    let u = this.perDevice.get(device)
    if (u === undefined) {
      this.perDevice.set(device, (u = zero()))
      this.projectedAt.set(device, this.projectedNames.length)
      this.projectedNames.push(device)
      this.projectedBytesAt.push((this.pending.get(device)?.bytes ?? 0) + this.heldBytesOf(device))
    }
    this.projectedBytesAt[this.projectedAt.get(device)!]! += bytes
    u.readings += readings
    u.bytes += bytes
    this.total.readings += readings
    this.total.bytes += bytes
    addTo(classesOf(this.classes, device), cls, bytes)
    addTo(this.classTotals, cls, bytes)
  }

  /** The priority classes buffered readings are in, lowest first (a handful). */
  classesPresent(): number[] {
    const out: number[] = []
    for (const [c, b] of this.classTotals) if (b > 0) out.push(c)
    return out.sort((a, b) => a - b)
  }

  /** What the device will hold in one priority class once queued work commits (no allocation: a hot path when the disk is full). */
  projectedClassBytes(device: string, cls: number): number {
    let bytes = (this.classes.get(device)?.get(cls) ?? 0) + (this.pending.get(device)?.classes.get(cls) ?? 0)
    for (const h of this.held) bytes += h.tally.get(device)?.classes.get(cls) ?? 0
    return bytes
  }

  /** Committed change of the kept readings. */
  keep(readings: number, bytes: number): void {
    this.kept.readings += readings
    this.kept.bytes += bytes
  }

  /**
   * A change queued for the next commit (device null: not a device's, e.g. a trim of kept readings).
   * `cls`: the class of an append; for an eviction (negative, no class) the bytes are taken from the
   * device's lowest classes first, as the eviction will take them.
   */
  addPending(device: string | null, readings: number, bytes: number, cls?: number): void {
    if (device !== null) {
      const p = this.pending.touch(device)
      p.readings += readings
      p.bytes += bytes
      const at = this.projectedAt.get(device)
      if (at !== undefined) this.projectedBytesAt[at]! += bytes
      const pc = p.classes
      if (cls !== undefined) addTo(pc, cls, bytes)
      else {
        let left = -bytes
        for (const [c, b] of this.projectedClassesOf(device)) {
          if (left <= 0) break
          const take = Math.min(b, left)
          addTo(pc, c, -take)
          left -= take
        }
      }
    }
    this.pendingAll.readings += readings
    this.pendingAll.bytes += bytes
  }

  /** The queued changes were taken by a commit (committed or failed, they are no longer pending). */
  clearPending(): void {
    this.unproject(this.pending)
    this.pending.reset()
    this.pendingAll.readings = this.pendingAll.bytes = 0
  }

  /** A commit on the commit worker took the queued changes: they count until it answers (releaseHeld). */
  holdPending(): void {
    const h = this.spareHeld.pop() ?? { tally: tally(), all: zero() }
    const empty = h.tally
    h.tally = this.pending
    this.pending = empty
    h.all.readings = this.pendingAll.readings
    h.all.bytes = this.pendingAll.bytes
    this.pendingAll.readings = this.pendingAll.bytes = 0
    this.held.push(h)
  }

  /** The commit worker answered for its oldest group (committed and accounted, or failed). */
  releaseHeld(): void {
    const h = this.held.shift()
    if (h === undefined) return
    this.unproject(h.tally)
    h.tally.reset()
    h.all.readings = h.all.bytes = 0
    this.spareHeld.push(h)
  }

  private heldBytesOf(device: string): number {
    let bytes = 0
    for (const h of this.held) bytes += h.tally.get(device)?.bytes ?? 0
    return bytes
  }

  /** Queued or held changes leave the projection (a commit accounts for what it did). */
  private unproject(t: Tally): void {
    t.forEachChanged(e => {
      const at = this.projectedAt.get(e.device)
      if (at !== undefined) this.projectedBytesAt[at]! -= e.bytes
    })
  }

  /**
   * Every device with buffered readings (or that had some since start) and the bytes it will hold once
   * queued work commits (projectedOf's bytes), as parallel arrays: walked per reading when the disk is full.
   */
  projectedAll(): { names: readonly string[]; bytes: readonly number[] } {
    return { names: this.projectedNames, bytes: this.projectedBytesAt }
  }

  /** projectedOf's bytes, without allocating. */
  projectedBytesOf(device: string): number {
    const at = this.projectedAt.get(device)
    if (at !== undefined) return this.projectedBytesAt[at]!
    return (this.pending.get(device)?.bytes ?? 0) + this.heldBytesOf(device)
  }

  /** Whether the device has buffered readings (or had some since start). */
  isBuffered(device: string): boolean {
    return this.projectedAt.has(device)
  }

  /** What the device will hold per priority class once queued work commits: [class, bytes], lowest class first. */
  projectedClassesOf(device: string): Array<[number, number]> {
    const out = new Map(this.classes.get(device))
    for (const h of this.held) for (const [c, b] of h.tally.get(device)?.classes ?? []) addTo(out, c, b)
    for (const [c, b] of this.pending.get(device)?.classes ?? []) addTo(out, c, b)
    return [...out].filter(([, b]) => b > 0).sort((a, b) => a[0] - b[0])
  }

  /** What the device will hold once queued appends and evictions are committed. */
  projectedOf(device: string): Usage {
    const c = this.perDevice.get(device)
    const p = this.pending.get(device)
    let readings = (c?.readings ?? 0) + (p?.readings ?? 0)
    let bytes = (c?.bytes ?? 0) + (p?.bytes ?? 0)
    for (const held of this.held) {
      const h = held.tally.get(device)
      readings += h?.readings ?? 0
      bytes += h?.bytes ?? 0
    }
    return { readings, bytes }
  }

  /** Everything on disk once queued work commits: buffered readings and kept ones (the disk budget's measure). */
  projectedTotalBytes(): number {
    let bytes = this.total.bytes + this.kept.bytes + this.pendingAll.bytes
    for (const h of this.held) bytes += h.all.bytes
    return bytes
  }

  usageTotal(): Readonly<Usage> {
    return this.total
  }

  usageOf(device: string): Readonly<Usage> {
    return this.perDevice.get(device) ?? zero()
  }

  /** How many devices have readings waiting now. */
  devicesBuffered(): number {
    let n = 0
    for (const u of this.perDevice.values()) if (u.readings > 0) n++
    return n
  }

  oldestRecvMs(): number | null {
    return (this.selectOldest.get() as number | undefined) ?? null
  }
}

function classesOf(m: Map<string, ClassBytes>, device: string): ClassBytes {
  let c = m.get(device)
  if (c === undefined) m.set(device, (c = new Map()))
  return c
}
