/**
 * Payload understanding: the numeric fields of a JSON or CBOR reading, and its event time. Pure.
 * JSON text starting with `{` and CBOR maps (major type 5) are read; nested objects give dotted
 * names (`{"env":{"t":21}}` → `env.t`, three levels at most). Anything else — arrays, bare numbers,
 * binary, broken JSON — is opaque: it has no metrics and passes through untouched.
 */
import { documentOf } from '../codec/reading.js'
import { DEFAULT_TIME_FIELDS, eventMsOfValue } from '../codec/time.js'

/** A rule's optional schema: which fields are metrics (with units) and which field is the event time. */
export interface PayloadSchema {
  /** Metric names to pick; empty = every numeric field except the time field. */
  fields: readonly string[]
  units: Readonly<Record<string, string>>
  /** The event-time field; empty = the first of ts, time, timestamp, eventTime. */
  timeField: string
}

export interface ParsedPayload {
  names: string[]
  values: number[]
  /** From the time field: epoch ms (values below 1e11 are taken as seconds), ISO-8601, or a CBOR date. */
  eventMs: number | null
}

export { DEFAULT_TIME_FIELDS }
const MAX_DEPTH = 3

/** Parse `payload` into metrics; null when it is opaque. */
export function parsePayload(payload: Buffer, schema: PayloadSchema | null): ParsedPayload | null {
  const doc = documentOf(payload)
  if (doc === null) return null
  const timeFields = schema !== null && schema.timeField !== '' ? [schema.timeField] : DEFAULT_TIME_FIELDS
  let eventMs: number | null = null
  for (const f of timeFields) {
    eventMs = eventMsOfValue(doc[f])
    if (eventMs !== null) break
  }
  const names: string[] = []
  const values: number[] = []
  if (schema !== null && schema.fields.length > 0) {
    for (const name of schema.fields) {
      const v = name.includes('.') ? dig(doc, name) : doc[name]
      if (typeof v === 'number' && Number.isFinite(v)) {
        names.push(name)
        values.push(v)
      }
    }
  } else {
    collect(doc, '', 1, timeFields, names, values)
  }
  return { names, values, eventMs }
}

function collect(
  doc: Record<string, unknown>,
  prefix: string,
  depth: number,
  timeFields: readonly string[],
  names: string[],
  values: number[]
): void {
  for (const [k, v] of Object.entries(doc)) {
    if (depth === 1 && timeFields.includes(k)) continue
    if (typeof v === 'number') {
      if (Number.isFinite(v)) {
        names.push(prefix + k)
        values.push(v)
      }
    } else if (
      typeof v === 'object' &&
      v !== null &&
      !Array.isArray(v) &&
      !(v instanceof Uint8Array) &&
      !(v instanceof Date) &&
      depth < MAX_DEPTH
    ) {
      collect(v as Record<string, unknown>, `${prefix}${k}.`, depth + 1, timeFields, names, values)
    }
  }
}

function dig(doc: Record<string, unknown>, path: string): unknown {
  let cur: unknown = doc
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined
    cur = (cur as Record<string, unknown>)[part]
  }
  return cur
}
