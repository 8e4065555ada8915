/**
 * A reading's MQTT 5 metadata: its User Properties (name/value pairs, names may repeat, order kept) and
 * its Content Type. Packed once at admission into the compact blob the buffer stores (`props`, NULL for
 * a reading without any: every 3.1.1 reading and most MQTT 5 ones), and carried in batches of format
 * version 3 (README "Batch format", body item 14). Pure, no I/O.
 *
 * Blob = CBOR `[contentType, props]`: contentType text or null (none), props an array of text of even
 * length (name, value, name, value …) — the same two items as a batch's metadata entry after its index.
 */
import { Decoder, Encoder } from 'cbor-x'
import { array, fail, text } from './check.js'

export interface ReadingMetadata {
  /** MQTT 5 User Properties, in the order received; a name may repeat. */
  userProperties?: Array<[string, string]>
  /** MQTT 5 Content Type. */
  contentType?: string
}

const encoder = new Encoder({ useRecords: false, tagUint8Array: false, pack: false })
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true })

/** Where patches/mqtt-packet+9.0.2.patch keeps a publish's User Properties in wire order. */
export const USER_PROPERTY_PAIRS = Symbol.for('holdfast.userPropertyPairs')

/**
 * A publish's User Properties as pairs in the order received. mqtt-packet's object groups them by name
 * (a repeated name holds an array); the patched parser also keeps the pairs in wire order, used when there.
 */
export function userPropertyPairs(up: unknown): Array<[string, string]> {
  if (up === null || typeof up !== 'object') return []
  const inOrder = (up as { [USER_PROPERTY_PAIRS]?: unknown })[USER_PROPERTY_PAIRS]
  if (Array.isArray(inOrder)) return inOrder.map(([n, v]) => [String(n), String(v)])
  const out: Array<[string, string]> = []
  for (const [name, v] of Object.entries(up as Record<string, unknown>))
    for (const value of Array.isArray(v) ? v : [v]) out.push([name, String(value)])
  return out
}

/** The blob to store, or null when the reading has no metadata (nothing stored, nothing sent). */
export function packMetadata(
  contentType: unknown,
  userProperties: readonly (readonly [string, string])[]
): Buffer | null {
  const ct = typeof contentType === 'string' ? contentType : null
  if (ct === null && userProperties.length === 0) return null
  return Buffer.from(encoder.encode([ct, userProperties.flat()]))
}

/** The batch entry's two items, as stored: `[contentType|null, [name, value, …]]`. */
export function metadataItems(blob: Buffer): [string | null, string[]] {
  let v: unknown
  try {
    v = decoder.decode(blob)
  } catch (err) {
    return fail(`metadata: ${(err as Error).message}`, {}, err)
  }
  const a = array(v, 'metadata', 2)
  return [a[0] === null ? null : text(a[0], 'content type'), checkedProps(a[1])]
}

/** `contentType` (text or null) and `props` (name, value, … as text) as a consumer sees them. */
export function metadataOf(contentType: unknown, props: unknown): ReadingMetadata {
  const m: ReadingMetadata = {}
  const p = checkedProps(props)
  if (p.length > 0) {
    const pairs: Array<[string, string]> = new Array(p.length / 2)
    for (let i = 0; i < p.length; i += 2) pairs[i / 2] = [p[i]!, p[i + 1]!]
    m.userProperties = pairs
  }
  if (contentType !== null) m.contentType = text(contentType, 'content type')
  return m
}

/** The stored blob back as metadata. */
export function unpackMetadata(blob: Buffer): ReadingMetadata {
  const [ct, props] = metadataItems(blob)
  return metadataOf(ct, props)
}

function checkedProps(v: unknown): string[] {
  const p = array(v, 'user properties')
  if (p.length % 2 !== 0) fail('user properties: an odd number of items (name without a value)')
  for (const x of p) text(x, 'user property')
  return p as string[]
}
