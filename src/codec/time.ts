/**
 * The event-time rule, one function for the codec and the aggregator (README "Topic scheme"):
 * a number is epoch milliseconds when it is at least 1e11 (after 1973-03-03 as ms), otherwise epoch
 * seconds (1e11 s is the year 5138, so no real clock is misread); it must be positive and finite and is
 * rounded to whole ms. A string is ISO-8601 (Date.parse). A CBOR date (tag 0 or 1, decoded to a Date)
 * gives its time. Anything else gives none.
 */
export const SECONDS_BELOW = 1e11

export function eventMsOfValue(v: unknown): number | null {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v <= 0) return null
    return v >= SECONDS_BELOW ? Math.round(v) : Math.round(v * 1000)
  }
  if (typeof v === 'string') {
    const t = Date.parse(v)
    return Number.isFinite(t) ? t : null
  }
  if (v instanceof Date) {
    const t = v.getTime()
    return Number.isFinite(t) ? t : null
  }
  return null
}

/** The default event-time fields, tried in this order. */
export const DEFAULT_TIME_FIELDS = ['ts', 'time', 'timestamp', 'eventTime'] as const

/** The event time of a decoded JSON object or CBOR map, from the first time field that gives one. */
export function eventMsOfDocument(
  doc: Record<string, unknown>,
  fields: readonly string[] = DEFAULT_TIME_FIELDS
): number | null {
  for (const f of fields) {
    const t = eventMsOfValue(doc[f])
    if (t !== null) return t
  }
  return null
}
