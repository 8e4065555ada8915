/**
 * One metric's running aggregate: count, min, max, sum, last — and mean = sum / count at the end.
 *
 * Sums are exact decimal sums: sensor values are decimals with few places (21.03, 3.912), and adding
 * them as doubles gives order-dependent noise (21.03 + 21.05 = 42.080000000000005). So the sum is kept
 * as an integer count of 10^-scale units, where scale is the most decimal places seen (at most 9), and
 * turned into a double once, by one division. The result does not depend on the order readings were
 * absorbed in (late readings, restarts, compaction in chunks all give the same figure). A value with
 * more than 9 decimals (a float32 from CBOR, a computed ratio), or a sum past 2^53 units, switches the
 * metric to a plain double sum from then on: still correct, no longer order-independent.
 * The mean is the exact decimal mean rounded once to a double (sum / count once the sum is inexact).
 * `last` is the value of the reading with the latest event time (ties: the higher sequence number).
 */
export const MAX_SCALE = 9
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k)

/** [count, min, max, scale (-1 = inexact), isum, fsum, last, lastEventMs, lastSeq] — also the persisted form. */
export type MetricState = [number, number, number, number, number, number, number, number, number]

export function newMetric(): MetricState {
  return [0, Infinity, -Infinity, 0, 0, 0, 0, -Infinity, -1]
}

/** Decimal places of a double as JavaScript prints it (shortest round-trip digits). */
export function decimalsOf(v: number): number {
  if (Number.isInteger(v) && Math.abs(v) < 1e21) return 0
  const s = String(v)
  const e = s.indexOf('e')
  const mantissa = e === -1 ? s : s.slice(0, e)
  const dot = mantissa.indexOf('.')
  const frac = dot === -1 ? 0 : mantissa.length - dot - 1
  return Math.max(0, frac - (e === -1 ? 0 : Number(s.slice(e + 1))))
}

export function absorb(m: MetricState, v: number, eventMs: number, seq: number): void {
  m[0]++
  if (v < m[1]) m[1] = v
  if (v > m[2]) m[2] = v
  if (m[3] >= 0) {
    const d = decimalsOf(v)
    let scale = m[3]
    let isum = m[4]
    if (d > scale && d <= MAX_SCALE) {
      isum *= POW10[d - scale]!
      scale = d
    }
    const iv = d <= scale ? Math.round(v * POW10[scale]!) : NaN
    const next = isum + iv
    if (Number.isSafeInteger(isum) && Number.isSafeInteger(next)) {
      m[3] = scale
      m[4] = next
    } else {
      // Too many decimals or too large: a plain double sum from here on.
      m[5] = m[4] / POW10[m[3]]! + v
      m[3] = -1
      m[4] = 0
    }
  } else {
    m[5] += v
  }
  if (eventMs > m[7] || (eventMs === m[7] && seq > m[8])) {
    m[6] = v
    m[7] = eventMs
    m[8] = seq
  }
}

export function sumOf(m: MetricState): number {
  return m[3] >= 0 ? m[4] / POW10[m[3]]! : m[5]
}

/** The figures a rollup reports for one metric. */
/** Mean: the exact decimal mean rounded once (isum / (count · 10^scale)), so 39.108 / 10 gives 3.9108, not 3.9107999999999996. */
export function meanOf(m: MetricState): number {
  if (m[3] >= 0) {
    const d = m[0] * POW10[m[3]]!
    if (Number.isSafeInteger(d)) return m[4] / d
  }
  return sumOf(m) / m[0]
}

export function summary(m: MetricState): {
  count: number
  min: number
  max: number
  mean: number
  sum: number
  last: number
} {
  return { count: m[0], min: m[1], max: m[2], mean: meanOf(m), sum: sumOf(m), last: m[6] }
}
