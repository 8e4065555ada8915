/**
 * Priority classes: topic patterns → a priority (higher is sent first when a backlog exists) and how
 * the class gives way as the uplink budget runs low. A topic matching several classes takes the
 * highest priority among them. Readings of one priority form a lane that is read and released in
 * sequence order, so each device's readings of one class reach Kafka in order.
 *
 * With no `priority.classes` configured, three classes apply:
 *   alarm     (priority 2) devices/+/alarm/#, devices/+/alarms/#  — exempt from the budget: always sent
 *   event     (priority 1) devices/+/event/#, devices/+/events/#  — held once the budget is spent
 *   telemetry (priority 0) everything else                         — rollups only from 50 %, held from 80 %
 */
import type { PriorityClassConfig } from '../config/schema.js'
import { TopicTable } from '../identity/topic-table.js'

export interface PriorityClass {
  name: string
  priority: number
  /** Share of the budget used from which raw readings of this class are held (rollups still go). */
  rollupOnlyAt: number
  /** Share of the budget used from which everything of this class is held. */
  holdAt: number
  /** Never held by the budget. */
  exempt: boolean
}

export const DEFAULT_CLASSES: Readonly<Record<string, PriorityClassConfig>> = {
  alarm: { topics: ['devices/+/alarm/#', 'devices/+/alarms/#'], priority: 2, exempt: true },
  event: { topics: ['devices/+/event/#', 'devices/+/events/#'], priority: 1, holdAt: 1 },
  telemetry: { topics: ['#'], priority: 0, rollupOnlyAt: 0.5, holdAt: 0.8 }
}

/** The class of readings no configured class matches: bulk, held when the budget is spent. */
const UNMATCHED: PriorityClass = { name: 'default', priority: 0, rollupOnlyAt: 1, holdAt: 1, exempt: false }

export class PriorityClasses {
  readonly classes: readonly PriorityClass[]
  private readonly table: TopicTable<PriorityClass>
  private readonly byPriority = new Map<number, PriorityClass>()

  constructor(config: Readonly<Record<string, PriorityClassConfig>>) {
    const source = Object.keys(config).length > 0 ? config : DEFAULT_CLASSES
    const list = Object.entries(source).map(([name, c]) => ({
      name,
      priority: c.priority,
      rollupOnlyAt: c.rollupOnlyAt ?? 1,
      holdAt: c.holdAt ?? 1,
      exempt: c.exempt ?? false,
      topics: c.topics
    }))
    // Highest priority first, so the first match is the highest-priority class.
    list.sort((a, b) => b.priority - a.priority)
    this.classes = list.map(({ topics: _t, ...c }) => c)
    this.table = new TopicTable(list.map((c, i) => ({ filters: c.topics, value: this.classes[i]! })))
    for (const c of [...this.classes].reverse()) this.byPriority.set(c.priority, c)
    if (!this.byPriority.has(0)) this.byPriority.set(0, UNMATCHED)
  }

  /** The class of a topic. */
  of(topic: string): PriorityClass {
    return this.table.match(topic) ?? this.byPriority.get(0)!
  }

  /** The class that governs a stored priority (several classes may share one: the highest-ranked of them). */
  atPriority(priority: number): PriorityClass {
    return this.byPriority.get(priority) ?? UNMATCHED
  }
}
