/**
 * The event-loop delay of the broker's thread (perf_hooks.monitorEventLoopDelay): how late a
 * 10 ms timer fires, so how long anything ran without yielding. Every PUBACK waits behind that:
 * it is the figure the "nothing but MQTT on the broker's thread" rule keeps low.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'

export const LOOP_DELAY_QUANTILES = [0.5, 0.9, 0.99, 0.999, 1] as const

const RESOLUTION_MS = 10
let histogram: IntervalHistogram | null = null

/** Start measuring on the calling thread (idempotent); figures cover the time since. */
export function watchLoopDelay(): void {
  if (histogram !== null) return
  histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  histogram.enable()
}

/**
 * Delay in seconds at each of LOOP_DELAY_QUANTILES (1 = max), since start; empty before any sample.
 * The histogram holds the time between two firings of the timer: the delay is what exceeds its interval.
 */
export function loopDelaySeconds(): Array<[number, number]> {
  if (histogram === null || histogram.count === 0) return []
  const h = histogram
  const delay = (ns: number): number => Math.max(0, ns / 1e9 - RESOLUTION_MS / 1000)
  return LOOP_DELAY_QUANTILES.map(q => [q, delay(q === 1 ? h.max : h.percentile(q * 100))])
}
