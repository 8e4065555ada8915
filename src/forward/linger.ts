/**
 * Adaptive linger (README "Forwarding to Kafka" → Linger): how long the forwarder waits before the next
 * request. A request is worth sending once its readings average lingerReadingsPerDevice per device (a
 * device's readings side by side compress to a few bytes; one reading per device does not), once the
 * oldest has waited lingerMs, when a full request is waiting, or at once when a priority class above 0
 * is waiting. A drain a technician asked for does not wait either (the forwarder knows of it).
 */
import type { Config } from '../config/schema.js'
import type { ReadingBuffer } from '../store/buffer.js'
import { REQUEST_READINGS } from './request.js'

/** While lingering, how often the forwarder looks whether the readings waiting are worth a request. */
export const LINGER_CHECK_MS = 50

/** Milliseconds to wait before a request for the `backlog` readings buffered (0 or less: send now). */
export function lingerMs(buffer: ReadingBuffer, batch: Config['batch'], backlog: number): number {
  if (backlog >= REQUEST_READINGS) return 0
  if (buffer.lanes.list().some(l => l.cls > 0)) return 0
  const devices = buffer.usage.devicesBuffered()
  if (devices > 0 && backlog / devices >= batch.lingerReadingsPerDevice) return 0
  return (buffer.usage.oldestRecvMs() ?? 0) + batch.lingerMs - Date.now()
}
