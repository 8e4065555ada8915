/**
 * The event-loop delay of the broker's thread (perf_hooks.monitorEventLoopDelay): how late a
 * 10 ms timer fires, so how long anything ran without yielding. Every PUBACK waits behind that:
 * it is the figure the "nothing but MQTT on the broker's thread" rule keeps low.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'

export const LOOP_DELAY_QUANTILES = [0.5, 0.9, 0.99, 0.999, 1] as const

let histogram: IntervalHistogram | null = null

/** Start measuring on the calling thread (idempotent); figures cover the time since. */
export function watchLoopDelay(): void {
  if (histogram !== null) return
  histogram = monitorEventLoopDelay({ resolution: 10 })
  histogram.enable()
}

/** Delay in seconds at each of LOOP_DELAY_QUANTILES (1 = max), since start; empty before any sample. */
export function loopDelaySeconds(): Array<[number, number]> {
  if (histogram === null || histogram.count === 0) return []
  const h = histogram
  return LOOP_DELAY_QUANTILES.map(q => [q, (q === 1 ? h.max : h.percentile(q * 100)) / 1e9])
}
