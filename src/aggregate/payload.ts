/**
 * Payload understanding: the numeric fields of a JSON or CBOR reading, and its event time. Pure.
 * JSON text starting with `{` and CBOR maps (major type 5) are read; nested objects give dotted
 * names (`{"env":{"t":21}}` → `env.t`, three levels at most). Anything else — arrays, bare numbers,
 * binary, broken JSON — is opaque: it has no metrics and passes through untouched.
 */
import { Decoder } from 'cbor-x'
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
const cbor = new Decoder({ mapsAsObjects: true, useRecords: false })

/**
 * How a payload is read: as JSON or CBOR because its MQTT 5 Content Type or Payload Format Indicator
 * says so, not at all (another Content Type), or by sniffing its first byte (nothing declared).
 */
export type PayloadFormat = 'json' | 'cbor' | 'opaque' | 'sniff'

export function payloadFormat(contentType: unknown, formatIndicator: unknown): PayloadFormat {
  // Typed loosely on purpose: a malformed property may decode to something else than its type says.
  if (typeof contentType === 'string') {
    const t = contentType.split(';')[0]!.trim().toLowerCase()
    if (t === 'application/json' || t.endsWith('+json')) return 'json'
    if (t === 'application/cbor' || t.endsWith('+cbor')) return 'cbor'
    return 'opaque'
  }
  // UTF-8 text without a Content Type: JSON if it parses, never CBOR.
  return formatIndicator === true || formatIndicator === 1 ? 'json' : 'sniff'
}

/** Parse `payload` into metrics; null when it is opaque. */
export function parsePayload(
  payload: Buffer,
  schema: PayloadSchema | null,
  format: PayloadFormat = 'sniff'
): ParsedPayload | null {
  const doc = decodeDocument(payload, format)
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

/** A declared format is decoded as such (a CBOR map behind a tag, say); otherwise the first byte decides. */
function decodeDocument(payload: Buffer, format: PayloadFormat): Record<string, unknown> | null {
  if (format === 'opaque' || payload.length === 0) return null
  if (format === 'sniff') return documentOf(payload)
  let doc: unknown
  try {
    doc = format === 'json' ? JSON.parse(payload.toString('utf8')) : cbor.decode(payload)
  } catch {
    return null
  }
  return typeof doc === 'object' && doc !== null && !Array.isArray(doc) && !(doc instanceof Uint8Array)
    ? (doc as Record<string, unknown>)
    : null
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
