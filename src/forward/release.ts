/**
 * Releasing what Kafka acknowledged: a request's runs are deleted from the buffer on the broker's
 * thread, RELEASE_CHUNK readings a transaction, each between two of the commit worker's groups, and
 * counted forwarded (per device, rollups apart). A crash before a release ends sends its readings again.
 */
import type { Counters } from '../metrics/counters.js'
import { usableCores } from '../platform/cores.js'
import type { ReadingBuffer } from '../store/buffer.js'
import { KIND_ROLLUP } from '../store/reading.js'
import type { RunPart } from '../store/run-reads.js'
import type { Request } from './request.js'

/**
 * The deletes overlap the next request only when the gateway may use more than one core (a cgroup's CPU
 * quota counted). They run on the broker's thread: on a single core, overlapping them drained no faster
 * (184,000 readings/s, against 176,000-191,000) and took the live PUBACK p99 during the drain from
 * 32-34 ms to 40-45 ms. There the next request waits for them, which paces the drain.
 */
export const OVERLAP_RELEASES = usableCores() > 1
/**
 * Acknowledged readings are deleted this many at a time, one transaction each, with the broker's
 * events served in between: a 100,000-reading request released at once held the thread ~150 ms. With
 * the deletes overlapping the next request, 1,024 instead of 2,048 took the live PUBACK p99 during a
 * drain on two cores (buffer in memory) from a median of 36 to 24 ms (drain 293,000-324,000 readings/s, against
 * 313,000-358,000); on one core smaller transactions only drained slower.
 */
const RELEASE_CHUNK = OVERLAP_RELEASES ? 1024 : 2048

/** Release `req`'s runs once `prev` (the release before it, or null) has finished; rejects if either failed. */
export async function releaseRequest(
  prev: Promise<void> | null,
  req: Request,
  buffer: ReadingBuffer,
  counters: Counters
): Promise<void> {
  await prev
  for (const run of req.runs) await releaseRun(run, buffer, counters)
}

/** Delete a run Kafka acknowledged, RELEASE_CHUNK readings per transaction, and count it forwarded. */
async function releaseRun(part: RunPart, buffer: ReadingBuffer, counters: Counters): Promise<void> {
  const n = part.seqs.length
  for (let from = 0; from < n; from += RELEASE_CHUNK) {
    if (from > 0) await new Promise(setImmediate)
    // Between the commit worker's groups: a delete holding SQLite's lock would hold up their PUBACKs.
    await new Promise<void>((resolve, reject) =>
      buffer.writer.whenIdle(() => {
        try {
          buffer.lanes.releasePart(part, from, Math.min(n, from + RELEASE_CHUNK), from === 0)
          resolve()
        } catch (err) {
          reject(err)
        }
      })
    )
  }
  // Rollups are not readings a device sent: counted apart, so received/stored/forwarded still add up.
  if (part.kind === KIND_ROLLUP) {
    counters.forwardedRollups += n
    return
  }
  counters.forwarded += n
  let dev = -1
  let run = 0
  for (let i = 0; i <= n; i++) {
    const d = i < n ? part.devs[i]! : -1
    if (d === dev) {
      run++
      continue
    }
    if (run > 0) counters.device(buffer.deviceName(dev)).forwarded += run
    dev = d
    run = 1
  }
}
