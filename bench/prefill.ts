/** Fill a data dir with simulated telemetry as the gateway would store it (bench/drain.ts, bench/live-drain.ts). */
import { openDatabase } from '../src/store/db.js'
import { ReadingBuffer } from '../src/store/buffer.js'
import { eventTimeOf } from '../src/codec/reading.js'
import { SensorModel, seeded } from '../device-sim/telemetry.js'

/** n readings round-robin over `devices` devices (dev-0 ...), oldest first; returns their raw payload bytes. */
export function prefill(dataDir: string, n: number, devices: number, prefix = 'dev-'): number {
  const db = openDatabase({ dataDir, synchronous: 'normal' })
  const buffer = new ReadingBuffer(db)
  const models = Array.from({ length: devices }, (_, i) => new SensorModel(seeded(i + 1)))
  let rawBytes = 0
  let t = Date.now() - n * 10
  for (let i = 0; i < n; i++) {
    const d = i % devices
    // Devices write whole milliseconds.
    const payload = models[d]!.next(Math.round((t += 10 / devices)))
    rawBytes += payload.length
    buffer.writer.append(
      {
        device: `${prefix}${d}`,
        topic: `devices/${prefix}${d}/telemetry`,
        payload,
        eventMs: eventTimeOf(payload),
        qos: 1
      },
      () => {}
    )
    if (i % 20_000 === 19_999) buffer.writer.flush()
  }
  buffer.close()
  return rawBytes
}
