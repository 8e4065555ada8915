/**
 * The admission hook: what a reading is, decided once where the PUBLISH becomes a reading. Its
 * priority (class), whether it is forwarded raw or kept locally (rollup-only topics), its event time
 * from the rule's schema, and its parsed metrics for the aggregator (which absorbs them in the group
 * commit). Topics without a rule, and opaque payloads, pass through untouched as raw readings.
 */
import { KIND_LOCAL, KIND_RAW } from '../store/reading.js'
import type { PriorityClasses } from '../forward/priority.js'
import type { AggregateMeta } from './aggregator.js'
import { parsePayload } from './payload.js'
import type { Rule } from './rules.js'
import type { TopicTable } from '../identity/topic-table.js'

export interface Classified {
  cls: number
  kind: number
  /** Present when the rule parsed the payload: its event time (null = none, the receive time counts). */
  eventMs?: number | null
  keepMs?: number
  meta?: AggregateMeta
}

export type Classifier = (topic: string, payload: Buffer) => Classified

export function createClassifier(rules: TopicTable<Rule>, classes: PriorityClasses, retainMs: number): Classifier {
  return (topic, payload) => {
    const cls = classes.of(topic).priority
    const rule = rules.size > 0 ? rules.match(topic) : null
    if (rule === null || rule.mode === 'raw') return { cls, kind: KIND_RAW }
    const parsed = parsePayload(payload, rule.schema)
    if (parsed === null) return { cls, kind: KIND_RAW }
    if (rule.mode === 'both') return { cls, kind: KIND_RAW, eventMs: parsed.eventMs, meta: { rule, parsed } }
    // Rollup only: the raw reading stays on the box (for re-send detection, technicians and retention),
    // at least until its window has closed.
    return {
      cls,
      kind: KIND_LOCAL,
      eventMs: parsed.eventMs,
      keepMs: rule.windowMs + rule.latenessMs + retainMs,
      meta: { rule, parsed }
    }
  }
}
