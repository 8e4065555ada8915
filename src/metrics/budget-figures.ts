/**
 * What aggregation, priorities and the uplink budget are doing, as plain figures for the page and
 * /metrics: per priority class its budget state and the readings it holds back now, per budget
 * period its use. Read from the views main.ts hands the status side (`budget`, `aggregation`).
 */
export interface ClassFigure {
  name: string
  priority: number
  /** normal | rollups-only | held */
  state: string
  /** Readings of this class the budget keeps back now (all of a held class; the raw ones of a rollups-only class). */
  heldReadings: number
}

export interface PeriodFigure {
  period: 'day' | 'hour'
  budgetBytes: number
  usedBytes: number
  projectedBytes: number
  share: number
}

export interface BudgetFigures {
  enabled: boolean
  classes: ClassFigure[]
  periods: PeriodFigure[]
  lanes: Array<{ priority: number; kind: string; readings: number }>
  openWindows: number
}

interface BudgetView {
  enabled?: boolean
  day?: Omit<PeriodFigure, 'period'> | null
  hour?: Omit<PeriodFigure, 'period'> | null
  classes?: Array<{ name: string; priority: number; state: string }>
}
interface AggregationView {
  openWindows?: number
  lanes?: Array<{ priority: number; kind: string; readings: number }>
}

export function budgetFigures(budget: unknown, aggregation: unknown): BudgetFigures {
  const b = (budget ?? {}) as BudgetView
  const a = (aggregation ?? {}) as AggregationView
  const lanes = a.lanes ?? []
  const classes = (b.classes ?? []).map(c => ({
    name: c.name,
    priority: c.priority,
    state: c.state,
    heldReadings: lanes
      .filter(
        l => l.priority === c.priority && (c.state === 'held' || (c.state === 'rollups-only' && l.kind === 'raw'))
      )
      .reduce((s, l) => s + l.readings, 0)
  }))
  const periods: PeriodFigure[] = []
  for (const period of ['day', 'hour'] as const) {
    const p = b[period]
    if (p != null)
      periods.push({
        period,
        budgetBytes: p.budgetBytes,
        usedBytes: p.usedBytes,
        projectedBytes: p.projectedBytes,
        share: p.share
      })
  }
  return { enabled: b.enabled === true, classes, periods, lanes, openWindows: a.openWindows ?? 0 }
}
