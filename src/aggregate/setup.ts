/**
 * Wiring for aggregation, priorities, uplink budget, retention and compaction: built once from the
 * validated configuration, handed to admission (classify, relieve), the buffer (commit hook,
 * retention) and the forwarder (classes, budget); a 1 s timer closes idle windows and expires kept readings.
 */
import type { Config } from '../config/schema.js'
import type { Logger } from '../log.js'
import type { Counters } from '../metrics/counters.js'
import type { DB } from '../store/db.js'
import type { ReadingBuffer } from '../store/buffer.js'
import { PriorityClasses } from '../forward/priority.js'
import { UplinkBudget } from '../forward/budget.js'
import { Aggregator } from './aggregator.js'
import { createClassifier, type Classifier } from './classify.js'
import { createRelief, type Relief } from './pressure.js'
import { buildRules } from './rules.js'

const SWEEP_MS = 1000
const KEPT_SWEEP_MS = 5000

export interface Aggregation {
  /** The classes and budget in force (they change on reconfigure). */
  readonly classes: PriorityClasses
  readonly budget: UplinkBudget
  aggregator: Aggregator
  classify: Classifier
  relieve: Relief
  /** The `aggregation` object of /api/status. */
  view: () => Record<string, unknown>
  /** Prepare new settings (aggregate.rules, priority.classes, budget.*, store.retainMs, store.compactAt); returns the swap. */
  reconfigure: (next: Readonly<Config>) => () => void
  stop: () => void
}

export function setupAggregation(o: {
  config: Readonly<Config>
  db: DB
  buffer: ReadingBuffer
  counters: Counters
  log: Logger
}): Aggregation {
  const { buffer } = o
  const build = (config: Readonly<Config>, prev?: { config: Readonly<Config>; budget: UplinkBudget }) => {
    const classes = new PriorityClasses(config.priority.classes)
    const rules = buildRules(config.aggregate.rules)
    // An unchanged budget keeps its object (and its projection since start).
    const same = prev !== undefined && JSON.stringify(prev.config.budget) === JSON.stringify(config.budget)
    return { config, classes, rules, budget: same ? prev.budget : new UplinkBudget(config.budget, buffer.meta) }
  }
  const first = build(o.config)
  // What is in force; swapped whole by reconfigure.
  let cur: ReturnType<typeof build> & { classify: Classifier; relieve: Relief }
  const aggregator = new Aggregator({
    db: o.db,
    rules: first.rules,
    priorityOf: topic => cur.classes.of(topic).priority,
    counters: o.counters
  })
  buffer.writer.setHook(aggregator)
  buffer.retention.setRetention(o.config.store.retainMs)
  const withClassify = (c: ReturnType<typeof build>) => ({
    ...c,
    classify: createClassifier(c.rules, c.classes, c.config.store.retainMs),
    relieve: createRelief(buffer, aggregator, c.config.store.compactAt)
  })
  cur = withClassify(first)
  let lastKeptSweep = 0
  const timer = setInterval(() => {
    const now = Date.now()
    if (aggregator.due(now)) buffer.writer.requestCommit()
    if (now - lastKeptSweep >= KEPT_SWEEP_MS) {
      lastKeptSweep = now
      try {
        buffer.retention.sweepKept(now)
      } catch (err) {
        o.log.warn({ err }, 'expiring kept readings failed; will retry')
      }
    }
  }, SWEEP_MS)
  timer.unref()
  return {
    get classes() {
      return cur.classes
    },
    get budget() {
      return cur.budget
    },
    aggregator,
    classify: (topic, payload) => cur.classify(topic, payload),
    relieve: (bytes, budget) => cur.relieve(bytes, budget),
    view: () => ({
      rules: Object.keys(cur.config.aggregate.rules).length,
      openWindows: aggregator.openWindows(),
      ...aggregator.totals,
      kept: { ...buffer.retention.keptTotal(), retainMs: cur.config.store.retainMs },
      lanes: buffer.lanes
        .list()
        .map(l => ({ priority: l.cls, kind: l.kind === 1 ? 'rollup' : 'raw', readings: l.readings }))
    }),
    reconfigure: next => {
      const built = withClassify(build(next, cur))
      return () => {
        cur = built
        aggregator.setRules(built.rules)
        buffer.retention.setRetention(next.store.retainMs)
      }
    },
    stop: () => clearInterval(timer)
  }
}
