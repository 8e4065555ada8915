/** Turning an MQTT PUBLISH into a reading: pure, no I/O. */

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

const TIME_FIELDS = ['ts', 'time', 'timestamp', 'eventTime'] as const
const OPEN_BRACE = 0x7b

/**
 * The device's own event time in epoch ms, when a JSON payload carries one in a
 * `ts`/`time`/`timestamp`/`eventTime` field (epoch ms, epoch s, or an ISO-8601 string).
 * Opaque payloads simply have none.
 */
export function eventTimeOf(payload: Buffer): number | null {
  let i = 0
  while (i < payload.length && payload[i]! <= 0x20) i++
  if (payload[i] !== OPEN_BRACE) return null
  let doc: unknown
  try {
    doc = JSON.parse(payload.toString('utf8'))
  } catch {
    return null
  }
  if (typeof doc !== 'object' || doc === null) return null
  for (const f of TIME_FIELDS) {
    const v = (doc as Record<string, unknown>)[f]
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v >= 1e11 ? Math.round(v) : Math.round(v * 1000)
    if (typeof v === 'string') {
      const t = Date.parse(v)
      if (Number.isFinite(t)) return t
    }
  }
  return null
}
