/**
 * Numbers and names in a technician's words without `Intl`: node's ICU data lives in its binary, and
 * the first `toLocaleString` or `localeCompare` pages in about 6 MB of it (plus 1.6 MB of heap) for
 * the life of the process. These two are all the gateway needs of it.
 */

/** 1234567 → "1,234,567", as `toLocaleString('en')` writes an integer (others are rounded first). */
export function thousands(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  const digits = String(Math.abs(Math.round(n)))
  let out = digits.slice(0, digits.length % 3 || 3)
  for (let i = out.length; i < digits.length; i += 3) out += `,${digits.slice(i, i + 3)}`
  return n <= -0.5 ? `-${out}` : out
}

const RUNS = /\d+|\D+/g

/**
 * "sensor-2" before "sensor-10": digit runs compare by value, other runs case-insensitively, then
 * by code unit so that the order is total.
 */
export function naturalCompare(a: string, b: string): number {
  const x = a.match(RUNS) ?? []
  const y = b.match(RUNS) ?? []
  for (let i = 0; i < x.length && i < y.length; i++) {
    const p = x[i]!
    const q = y[i]!
    const pd = isDigitRun(p)
    const qd = isDigitRun(q)
    if (pd && qd) {
      const d = compareDigits(p, q)
      if (d !== 0) return d
    } else if (pd !== qd) {
      return pd ? -1 : 1
    } else {
      const pl = p.toLowerCase()
      const ql = q.toLowerCase()
      if (pl !== ql) return pl < ql ? -1 : 1
    }
  }
  if (x.length !== y.length) return x.length - y.length
  return a === b ? 0 : a < b ? -1 : 1
}

/** A run of RUNS starts with a digit (then it is all digits). */
function isDigitRun(run: string): boolean {
  const c = run.charCodeAt(0)
  return c >= 48 && c <= 57
}

/** Two runs of digits by value (any length: no Number overflow), then the one with more leading zeros, as ICU does. */
function compareDigits(p: string, q: string): number {
  const ps = p.replace(/^0+(?=\d)/, '')
  const qs = q.replace(/^0+(?=\d)/, '')
  if (ps.length !== qs.length) return ps.length - qs.length
  if (ps !== qs) return ps < qs ? -1 : 1
  return q.length - p.length
}
