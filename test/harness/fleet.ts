/**
 * Paced QoS 1 publishers for quota tests and bench/flood.ts: each device sends `rate` readings per
 * second with at most `window` unacknowledged; a reading that finds the window full is deferred (a
 * real device keeps it in its local queue), never counted as sent. Bounded in time: after the send
 * window, outstanding acknowledgements are awaited for at most `drainMs`.
 */
import type mqtt from 'mqtt'

export interface PacedResult {
  id: string
  /** Readings the device wanted to send (rate x duration). */
  attempted: number
  sent: number
  acked: number
  deferred: number
  /** PUBACK latencies in ms, in ack order. */
  latencies: number[]
  /** The `n` of every acknowledged reading. */
  ackedNs: number[]
}

export interface PacedOptions {
  rate: number
  durationMs: number
  window: number
  drainMs: number
  topic?: string
  payloadBytes?: number
}

export async function publishPaced(c: mqtt.MqttClient, id: string, o: PacedOptions): Promise<PacedResult> {
  const topic = o.topic ?? `devices/${id}/telemetry`
  const r: PacedResult = { id, attempted: 0, sent: 0, acked: 0, deferred: 0, latencies: [], ackedNs: [] }
  const pad = 'x'.repeat(Math.max(0, (o.payloadBytes ?? 0) - 60))
  let outstanding = 0
  let n = 0
  const periodMs = Math.max(1000 / o.rate, 10)
  const perTick = (o.rate * periodMs) / 1000
  let credit = Math.random() * perTick // staggered starts, as in a real fleet
  const started = performance.now()
  await new Promise<void>(resolve => {
    const timer = setInterval(() => {
      if (performance.now() - started >= o.durationMs) {
        clearInterval(timer)
        return resolve()
      }
      credit += perTick
      while (credit >= 1) {
        credit--
        r.attempted++
        if (outstanding >= o.window) {
          r.deferred++
          continue
        }
        const k = n++
        const t0 = performance.now()
        outstanding++
        r.sent++
        c.publish(topic, `{"ts":${Date.now()},"n":${k}${pad !== '' ? `,"pad":"${pad}"` : ''}}`, { qos: 1 }, err => {
          outstanding--
          if (err != null) return
          r.acked++
          r.ackedNs.push(k)
          r.latencies.push(performance.now() - t0)
        })
      }
    }, periodMs)
  })
  const deadline = performance.now() + o.drainMs
  while (outstanding > 0 && performance.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  return r
}

export function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null
  const s = [...values].sort((a, b) => a - b)
  return Math.round(s[Math.min(s.length - 1, Math.floor(s.length * p))]! * 100) / 100
}
