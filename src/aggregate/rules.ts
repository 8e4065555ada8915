/**
 * Aggregation rules from `aggregate.rules`: topic patterns → mode (raw | rollup | both), tumbling
 * window, allowed lateness, optional payload schema, and whether the disk budget may compact the
 * topic's raw readings into rollups. The first rule (in the order written) whose pattern matches wins.
 */
import type { AggregateRuleConfig } from '../config/schema.js'
import type { PayloadSchema } from './payload.js'
import { TopicTable } from '../identity/topic-table.js'

export type Mode = 'raw' | 'rollup' | 'both'

export interface Rule {
  name: string
  mode: Mode
  windowMs: number
  latenessMs: number
  schema: PayloadSchema | null
  /** Raw readings of this topic may be compacted into rollups when the disk budget runs low. */
  compact: boolean
}

export const RULE_DEFAULTS = { mode: 'both' as Mode, windowMs: 10_000, latenessMs: 5_000, compact: true }

export function buildRules(rules: Readonly<Record<string, AggregateRuleConfig>>): TopicTable<Rule> {
  return new TopicTable(Object.entries(rules).map(([name, r]) => ({ filters: r.topics, value: ruleOf(name, r) })))
}

export function ruleOf(name: string, r: AggregateRuleConfig): Rule {
  const fields: string[] = []
  const units: Record<string, string> = {}
  for (const f of r.fields ?? []) {
    // "temp" or "temp:°C"
    const colon = f.indexOf(':')
    const field = colon === -1 ? f : f.slice(0, colon)
    fields.push(field)
    if (colon !== -1) units[field] = f.slice(colon + 1)
  }
  const timeField = r.timeField ?? ''
  return {
    name,
    mode: r.mode ?? RULE_DEFAULTS.mode,
    windowMs: r.windowMs ?? RULE_DEFAULTS.windowMs,
    latenessMs: r.latenessMs ?? RULE_DEFAULTS.latenessMs,
    schema: fields.length > 0 || timeField !== '' ? { fields, units, timeField } : null,
    compact: r.compact ?? RULE_DEFAULTS.compact
  }
}
