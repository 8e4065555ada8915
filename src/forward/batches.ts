/** A lane's run as Kafka messages, cut by count and payload bytes (README "Forwarding to Kafka"). */
import { encodeBatch } from '../codec/batch.js'
import type { BatchMessage } from '../codec/types.js'
import { KIND_ROLLUP, type StoredReading } from '../store/reading.js'

export interface BatchShape {
  gatewayId: string
  keyBy: 'gateway' | 'device'
  maxReadings: number
  maxBytes: number
}

/** A reading's share of batch.maxBytes: its payload and its MQTT 5 metadata. */
const sizeOf = (r: StoredReading): number => r.payload.length + (r.props?.length ?? 0)

/**
 * Keyed by gateway (default): a message holds every device of the run, device by device (each in seq
 * order, so a message holds runs of one device: small deltas); keyed by device: one device per message.
 */
export function toMessages(
  rows: readonly StoredReading[],
  lane: 'backlog' | 'live',
  cls: string,
  shape: BatchShape
): BatchMessage[] {
  if (rows.length === 0) return []
  const byDevice = new Map<string, StoredReading[]>()
  for (const r of rows) {
    const list = byDevice.get(r.device)
    if (list === undefined) byDevice.set(r.device, [r])
    else list.push(r)
  }
  const groups: Array<[string, readonly StoredReading[]]> =
    shape.keyBy === 'device'
      ? [...byDevice]
      : [[shape.gatewayId, byDevice.size === 1 ? rows : [...byDevice.values()].flat()]]
  const out: BatchMessage[] = []
  const { maxReadings, maxBytes } = shape
  const kind = rows[0]!.kind === KIND_ROLLUP ? 'rollup' : 'raw'
  for (const [key, list] of groups) {
    let start = 0
    while (start < list.length) {
      let end = start
      let bytes = 0
      while (
        end < list.length &&
        end - start < maxReadings &&
        (end === start || bytes + sizeOf(list[end]!) <= maxBytes)
      ) {
        bytes += sizeOf(list[end]!)
        end++
      }
      out.push(encodeBatch(shape.gatewayId, list.slice(start, end), { kind, lane, cls, key }))
      start = end
    }
  }
  return out
}
