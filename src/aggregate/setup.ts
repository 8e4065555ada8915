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
  classes: PriorityClasses
  budget: UplinkBudget
  aggregator: Aggregator
  classify: Classifier
  relieve: Relief
  /** The `aggregation` object of /api/status. */
  view: () => Record<string, unknown>
  stop: () => void
}

export function setupAggregation(o: {
  config: Readonly<Config>
  db: DB
  buffer: ReadingBuffer
  counters: Counters
  log: Logger
}): Aggregation {
  const { config, buffer } = o
  const classes = new PriorityClasses(config.priority.classes)
  const rules = buildRules(config.aggregate.rules)
  const aggregator = new Aggregator({
    db: o.db,
    rules,
    priorityOf: topic => classes.of(topic).priority,
    counters: o.counters
  })
  buffer.writer.setHook(aggregator)
  buffer.retention.setRetention(config.store.retainMs)
  const budget = new UplinkBudget(config.budget, buffer.meta)
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
    classes,
    budget,
    aggregator,
    classify: createClassifier(rules, classes, config.store.retainMs),
    relieve: createRelief(buffer, aggregator, config.store.compactAt),
    view: () => ({
      rules: Object.keys(config.aggregate.rules).length,
      openWindows: aggregator.openWindows(),
      ...aggregator.totals,
      kept: { ...buffer.retention.keptTotal(), retainMs: config.store.retainMs },
      lanes: buffer.lanes
        .list()
        .map(l => ({ priority: l.cls, kind: l.kind === 1 ? 'rollup' : 'raw', readings: l.readings }))
    }),
    stop: () => clearInterval(timer)
  }
}
