/**
 * One reading of the batch topic as a self-describing JSON record: what `holdfast expand` writes to its
 * output topic. schemas/expanded-record.schema.json is the published schema; change the two together
 * (and EXPANDED_RECORD_VERSION when a consumer written against the old schema would misread).
 */
import type { DecodedReading } from '../codec/batch.js'
import type { ReadingMetadata } from '../codec/metadata.js'

export const EXPANDED_RECORD_VERSION = 1

export interface Source {
  topic: string
  partition: number
  offset: string
}

/** What the batch message says about all its readings (headers), unless the reading says otherwise. */
export interface BatchContext {
  cls: string | null
  kind: string | null
  lane: string | null
  source: Source
}

/** MQTT 5 metadata, when the batch carries it (see README "Batch format", version 3). */
type Metadata = ReadingMetadata

/** Fields a newer codec may give each reading; read when present. */
type Extended = DecodedReading & {
  cls?: string | null
  kind?: string | number | null
  lane?: string | null
}

export interface ExpandedRecord {
  type: 'reading' | 'rollup'
  v: number
  eventId: string
  gatewayId: string
  seq: number
  device: string
  topic: string
  eventTime: string | null
  recvTime: string | null
  qos: number
  class: string | null
  kind: string
  lane: string | null
  metadata: Metadata
  payload?: unknown
  payloadBase64?: string
  rollup?: Record<string, unknown>
  source: Source
}

export const iso = (ms: number): string | null => {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? null : d.toISOString()
}

/** `{ payload }` (parsed) when the bytes are UTF-8 JSON text, else `{ payloadBase64 }`. */
export function payloadFields(bytes: Buffer): { payload: unknown } | { payloadBase64: string } {
  const text = bytes.toString('utf8')
  if (!text.includes('\uFFFD') || Buffer.from(text, 'utf8').equals(bytes)) {
    try {
      return { payload: JSON.parse(text) }
    } catch {}
  }
  return { payloadBase64: bytes.toString('base64') }
}

const kindName = (k: string | number | null | undefined, fallback: string | null): string => {
  if (typeof k === 'number') return k === 1 ? 'rollup' : 'raw'
  return k ?? fallback ?? 'raw'
}

/** A copy, so the record's key order is fixed (userProperties, then contentType) whatever the decoder gave. */
function metadataOf(r: Extended): Metadata {
  const m: Metadata = {}
  const d = r.metadata
  if (d?.userProperties !== undefined) m.userProperties = d.userProperties.map(([k, v]) => [k, v])
  if (d?.contentType !== undefined) m.contentType = d.contentType
  return m
}

export function expandReading(reading: DecodedReading, ctx: BatchContext): ExpandedRecord {
  const r = reading as Extended
  const kind = kindName(r.kind, ctx.kind)
  const rec: ExpandedRecord = {
    type: kind === 'rollup' ? 'rollup' : 'reading',
    v: EXPANDED_RECORD_VERSION,
    eventId: r.eventId,
    gatewayId: r.gatewayId,
    seq: r.seq,
    device: r.device,
    topic: r.topic,
    eventTime: r.eventMs === null ? null : iso(r.eventMs),
    recvTime: iso(r.recvMs),
    qos: r.qos,
    class: r.cls ?? ctx.cls,
    kind,
    lane: r.lane ?? ctx.lane,
    metadata: metadataOf(r),
    source: ctx.source
  }
  const body = payloadFields(r.payload)
  if (rec.type === 'rollup' && 'payload' in body && typeof body.payload === 'object' && body.payload !== null)
    rec.rollup = body.payload as Record<string, unknown>
  else Object.assign(rec, body)
  return rec
}
