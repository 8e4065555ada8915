/** Turning an MQTT PUBLISH into a reading: pure, no I/O. */
import { Decoder } from 'cbor-x'
import { flatJsonEventMs, UNSURE } from './json-time.js'
import { eventMsOfDocument } from './time.js'

/** Topic scheme: devices/<deviceId>/<stream...>. Anything else is ordinary MQTT traffic. */
const PREFIX = 'devices/'
/** Device ids: also the config's `devices` keys and app names (src/config/schema.ts). */
export const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

/** The device id a topic belongs to, or null when the topic is not a reading topic. */
export function deviceOfTopic(topic: string): string | null {
  if (!topic.startsWith(PREFIX)) return null
  const end = topic.indexOf('/', PREFIX.length)
  if (end === -1 || end === topic.length - 1) return null
  const id = topic.slice(PREFIX.length, end)
  return DEVICE_ID.test(id) ? id : null
}

export function isValidDeviceId(id: string): boolean {
  return DEVICE_ID.test(id)
}

const OPEN_BRACE = 0x7b
const cbor = new Decoder({ mapsAsObjects: true, useRecords: false })

/**
 * A payload as a document: a JSON object (text starting with `{`, leading whitespace allowed) or a CBOR
 * map (first byte major type 5); anything else — arrays, bare values, binary, broken JSON — is null.
 */
export function documentOf(payload: Buffer): Record<string, unknown> | null {
  let i = 0
  while (i < payload.length && payload[i]! <= 0x20) i++
  if (i >= payload.length) return null
  const first = payload[i]!
  let doc: unknown
  try {
    if (first === OPEN_BRACE) doc = JSON.parse(payload.toString('utf8'))
    else if (i === 0 && first >= 0xa0 && first <= 0xbf) doc = cbor.decode(payload)
    else return null
  } catch {
    return null
  }
  return typeof doc === 'object' && doc !== null && !Array.isArray(doc) && !(doc instanceof Uint8Array)
    ? (doc as Record<string, unknown>)
    : null
}

/**
 * The device's own event time in epoch ms, when the payload is a document (above) with a `ts`/`time`/
 * `timestamp`/`eventTime` field; the value follows the one rule in time.ts (ms vs s, ISO-8601, CBOR
 * date). Opaque payloads simply have none.
 */
export function eventTimeOf(payload: Buffer): number | null {
  let i = 0
  while (
    i < payload.length &&
    (payload[i] === 0x20 || payload[i] === 0x0a || payload[i] === 0x0d || payload[i] === 0x09)
  )
    i++
  if (payload[i] === OPEN_BRACE) {
    const t = flatJsonEventMs(payload, i)
    if (t !== UNSURE) return t
  }
  const doc = documentOf(payload)
  return doc === null ? null : eventMsOfDocument(doc)
}
