/**
 * JSON shapes: flat JSON-object payloads transposed into per-key columns, the part of the batch
 * format that makes telemetry small (README "Batch format"). Pure. Version 1 may hold any double in a
 * plain column (rebuilding its text needs ECMAScript's Number::toString); version 2 holds only numbers
 * whose text follows the simple decimal rule of `decimalText`, so any language rebuilds the bytes.
 */
import { array, cborInt, fail, int, type Int, safe, text } from './check.js'

export const COL_PLAIN = 0
export const COL_SCALED = 1
/** Version 2: like plain, but every integer m stands for the number m / 10^k. */
export const COL_PLAIN_SCALED = 2
/** 10^k is exact in a double up to k = 22; 15 decimals is plenty for sensor values. */
const MAX_SCALE = 15
/**
 * Version 2 scaled integers stay below 2^51: then m = round(v · 10^k) is off from the device's decimal
 * times 10^k by less than 0.25 (one rounding of v, one of the product), so it is exactly that decimal.
 */
const MAX_MANTISSA = 2 ** 51
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k)

export type Scalar = string | number | bigint | boolean | null
type Column =
  | [typeof COL_PLAIN, Scalar[]]
  | [typeof COL_SCALED, number, Int[]]
  | [typeof COL_PLAIN_SCALED, number, Scalar[]]

/**
 * The version 2 number rule: the integer m written in decimal (with '-' when negative), a decimal point
 * inserted k digits from the right (zeros padded in front as needed), trailing zeros of the fraction
 * removed, and the point too when nothing follows it. decimalText(2150, 2) = "21.5", (5, 3) = "0.005".
 */
export function decimalText(m: number, k: number): string {
  const neg = m < 0
  let digits = String(neg ? -m : m)
  if (k > 0) {
    if (digits.length <= k) digits = '0'.repeat(k - digits.length + 1) + digits
    let frac = digits.slice(digits.length - k)
    let end = frac.length
    while (end > 0 && frac.charCodeAt(end - 1) === 0x30) end--
    frac = frac.slice(0, end)
    digits = digits.slice(0, digits.length - k) + (frac === '' ? '' : '.' + frac)
  }
  return neg ? '-' + digits : digits
}

/** One key list (in order) seen in this batch, with its value columns. */
export interface Shape {
  index: number
  keys: string[]
  tokens: Buffer[]
  cols: Scalar[][]
}
/** A transcodable payload; `shape` is set when its keys are exactly those of the hint. */
export interface Flat {
  shape: Shape | undefined
  keys: string[]
  values: Scalar[]
}

/**
 * A payload that is a flat JSON object (scalar values) written exactly as JSON.stringify writes
 * it, so that re-serialising the values restores every byte; anything else is null (kept raw).
 */
export function flatJson(p: Buffer, hint: Shape | undefined, strict: boolean): Flat | null {
  const len = p.length
  if (len < 3 || p[0] !== 0x7b || p[len - 1] !== 0x7d) return null
  return scanFlat(p, hint) ?? parseFlat(p, strict)
}

/**
 * Slow path: JSON.parse, then JSON.stringify must give the text back. Texts with \\u escapes
 * are refused: they are the only way to write a lone surrogate, which CBOR (UTF-8) cannot carry.
 */
function parseFlat(p: Buffer, strict: boolean): Flat | null {
  const text = p.toString('utf8')
  // Invalid UTF-8 decodes to U+FFFD and would not come back as the same bytes.
  if (text.includes('\\u') || (text.includes('\uFFFD') && !Buffer.from(text, 'utf8').equals(p))) return null
  let doc: Record<string, unknown>
  try {
    doc = JSON.parse(text) as Record<string, unknown>
  } catch {
    return null
  }
  const keys = Object.keys(doc)
  if (keys.length === 0) return null // `{}`: nothing to gain, and a shape needs a column to count its rows
  const values: Scalar[] = new Array(keys.length)
  for (let j = 0; j < keys.length; j++) {
    const v = doc[keys[j]!]
    if (typeof v === 'object' && v !== null) return null
    if (strict && typeof v === 'number' && !ruleNumber(v)) return null
    values[j] = v as Scalar
  }
  if (JSON.stringify(doc) !== text) return null
  return { shape: undefined, keys, values }
}

const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,9})$/

const matchAt = (p: Buffer, tok: Buffer, at: number): boolean => {
  if (at + tok.length > p.length) return false
  for (let k = 0; k < tok.length; k++) if (p[at + k] !== tok[k]) return false
  return true
}

/** Index of the closing quote of an ASCII string starting after `at`, or -1 for anything else. */
const asciiString = (p: Buffer, at: number): number => {
  for (let i = at; i < p.length; i++) {
    const c = p[i]!
    if (c === 0x22) return i
    if (c === 0x5c || c < 0x20 || c >= 0x80) return -1
  }
  return -1
}

/**
 * Fast path for the common case, several times cheaper than parse + stringify: one scan of the
 * bytes that accepts only tokens JSON.stringify provably writes this way — ASCII strings without
 * escapes or control characters, true/false/null, and plain decimals of at most 15 digits with
 * |v| in [1e-6, 1e15) and no superfluous zeros (ECMAScript Number::toString writes such a decimal
 * back digit for digit, and m / 10^k with exact m and 10^k is the correctly rounded double, as
 * JSON.parse computes it). Anything else returns undefined and goes to the slow path, which decides.
 * Keys equal to the previous reading's are matched as bytes, without making strings.
 */
function scanFlat(p: Buffer, hint: Shape | undefined): Flat | undefined {
  const keys: string[] = []
  const values: Scalar[] = []
  const end = p.length - 1 // the closing brace
  let same = hint !== undefined
  let i = 1
  for (let j = 0; ; j++) {
    const tok = same && j < hint!.tokens.length ? hint!.tokens[j]! : undefined
    if (tok !== undefined && matchAt(p, tok, i)) {
      keys.push(hint!.keys[j]!)
      i += tok.length
    } else {
      same = false
      if (p[i] !== 0x22) return undefined
      const q = asciiString(p, i + 1)
      if (q < 0) return undefined
      const key = p.toString('latin1', i + 1, q)
      // Integer-like keys are enumerated first by JS objects, so the order could change; duplicates collapse.
      if (p[q + 1] !== 0x3a || ARRAY_INDEX.test(key) || keys.length >= 64 || keys.includes(key)) return undefined
      keys.push(key)
      i = q + 2
    }
    const c = p[i]
    if (c === 0x22) {
      const q = asciiString(p, i + 1)
      if (q < 0) return undefined
      values.push(p.toString('latin1', i + 1, q))
      i = q + 1
    } else if (c === 0x74 && p[i + 1] === 0x72 && p[i + 2] === 0x75 && p[i + 3] === 0x65) {
      values.push(true)
      i += 4
    } else if (c === 0x66 && p[i + 1] === 0x61 && p[i + 2] === 0x6c && p[i + 3] === 0x73 && p[i + 4] === 0x65) {
      values.push(false)
      i += 5
    } else if (c === 0x6e && p[i + 1] === 0x75 && p[i + 2] === 0x6c && p[i + 3] === 0x6c) {
      values.push(null)
      i += 4
    } else {
      const neg = c === 0x2d
      if (neg) i++
      const i0 = i
      let m = 0
      let d = p[i]! - 0x30
      if (!(d >= 0 && d <= 9)) return undefined
      for (; d >= 0 && d <= 9; d = p[++i]! - 0x30) m = m * 10 + d
      const intDigits = i - i0
      const zeroInt = p[i0] === 0x30
      if (intDigits > 1 && zeroInt) return undefined // leading zero
      let k = 0
      if (p[i] === 0x2e) {
        const f0 = ++i
        for (d = p[i]! - 0x30; d >= 0 && d <= 9; d = p[++i]! - 0x30) m = m * 10 + d
        k = i - f0
        // A trailing 0 would be dropped; below 1e-6 Number::toString switches to exponent form.
        if (k === 0 || p[i - 1] === 0x30 || (zeroInt && k >= 6 && m < POW10[k - 6]!)) return undefined
      }
      if (intDigits + k > 15 || (neg && m === 0)) return undefined
      values.push(neg ? -m / POW10[k]! : m / POW10[k]!)
    }
    const sep = p[i++]
    if (sep === 0x7d) {
      if (i !== end + 1) return undefined
      return { shape: same && keys.length === hint!.keys.length ? hint : undefined, keys, values }
    }
    if (sep !== 0x2c) return undefined
  }
}

/** Version 2: a number whose JSON text the decimal rule rebuilds from one scaled integer. */
function ruleNumber(v: number): boolean {
  if (Number.isSafeInteger(v)) return true
  const k = scaleOf(v, 0)
  if (k < 0) return false
  const m = Math.round(v * POW10[k]!)
  return Math.abs(m) < MAX_MANTISSA && decimalText(m, k) === JSON.stringify(v)
}

/**
 * Version 2 columns: all numbers → scaled and delta-coded; mixed → plain (k = 0) or plain scaled; null
 * when a number cannot be a scaled integer below 10^15 at the column's scale (the shape is then refused).
 */
export function encodeColumnV2(values: Scalar[]): Column | null {
  let k = 0
  let numbers = 0
  for (const v of values) {
    if (typeof v !== 'number') continue
    numbers++
    k = scaleOf(v, k)
    if (k < 0) return null
  }
  const p = POW10[k]!
  const scaled = (v: number): number | null => {
    const m = Math.round(v * p)
    return (k === 0 ? Number.isSafeInteger(m) : Math.abs(m) < MAX_MANTISSA) && m / p === v ? m : null
  }
  if (numbers === values.length) {
    const out: Int[] = new Array(values.length)
    let prev = 0
    for (let i = 0; i < values.length; i++) {
      const m = scaled(values[i] as number)
      if (m === null) return null
      out[i] = cborInt(m - prev)
      prev = m
    }
    return [COL_SCALED, k, out]
  }
  const out: Scalar[] = new Array(values.length)
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!
    if (typeof v !== 'number') out[i] = v
    else {
      const m = scaled(v)
      if (m === null) return null
      out[i] = cborInt(m)
    }
  }
  return k === 0 ? [COL_PLAIN, out] : [COL_PLAIN_SCALED, k, out]
}

/** The smallest scale k ≥ from with round(v·10^k) / 10^k === v, or -1. */
function scaleOf(v: number, from: number): number {
  for (let k = from; k <= MAX_SCALE; k++) {
    const p = POW10[k]!
    const m = Math.round(v * p)
    if (Number.isSafeInteger(m) && m / p === v) return k
  }
  return -1
}

/**
 * All-number columns whose values are decimals of at most MAX_SCALE places become scaled integers,
 * delta-coded (value_i = (Σ_{j≤i} d_j) / 10^k); the decoder's one IEEE division restores each double.
 */
export function encodeColumn(values: Scalar[]): Column {
  let k = 0
  for (const v of values) {
    if (typeof v !== 'number') return plainColumn(values)
    k = scaleOf(v, k)
    if (k < 0) return plainColumn(values)
  }
  const p = POW10[k]!
  const out: Int[] = new Array(values.length)
  let prev = 0
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number
    const m = Math.round(v * p)
    const d = m - prev
    if (m / p !== v || !Number.isSafeInteger(m) || !Number.isSafeInteger(d)) return plainColumn(values)
    out[i] = cborInt(d)
    prev = m
  }
  return [COL_SCALED, k, out]
}

export function plainColumn(values: Scalar[]): Column {
  return [COL_PLAIN, values.map(v => (typeof v === 'number' && Number.isSafeInteger(v) ? cborInt(v) : v))]
}

export interface DecodedShape {
  rows: number
  payloads: Buffer[]
}

export function decodeShape(sh: unknown, s: number, version: number): DecodedShape {
  if (!Array.isArray(sh) || sh.length !== 2) return fail(`shape ${s} is not [keys, columns]`)
  const keys = array(sh[0], 'shape keys').map(k => text(k, 'shape key'))
  if (keys.length === 0) fail(`shape ${s} has no keys`)
  const cols = array(sh[1], 'shape columns', keys.length).map(c =>
    version === 1 ? decodeColumn(c) : decodeColumnV2(c)
  )
  const rows = cols[0]!.length
  for (const c of cols) if (c.length !== rows) fail(`shape ${s}: columns of different lengths`)
  // Exactly what JSON.stringify writes for an object with these keys, in this order.
  const prefixes = keys.map((k, j) => (j === 0 ? '{' : ',') + JSON.stringify(k) + ':')
  // Version 1 numbers are doubles written as JSON.stringify writes them; version 2 columns already hold text.
  const valueText = (v: unknown): string => (typeof v === 'object' && v !== null ? (v as Num).text : JSON.stringify(v))
  const texts: string[] = new Array(rows)
  for (let row = 0; row < rows; row++) {
    let t = ''
    for (let j = 0; j < cols.length; j++) t += prefixes[j]! + valueText(cols[j]![row])
    texts[row] = t + '}'
  }
  // One buffer for the whole shape, sliced per row (when ASCII, chars are bytes).
  const all = Buffer.from(texts.join(''), 'utf8')
  let payloads: Buffer[]
  if (all.length === texts.reduce((n, t) => n + t.length, 0)) {
    payloads = new Array(rows)
    for (let row = 0, at = 0; row < rows; at += texts[row]!.length, row++)
      payloads[row] = all.subarray(at, at + texts[row]!.length)
  } else {
    payloads = texts.map(t => Buffer.from(t, 'utf8'))
  }
  return { rows, payloads }
}

function decodeColumn(c: unknown): Array<string | number | boolean | null> {
  if (!Array.isArray(c)) return fail('column is not an array')
  if (c[0] === COL_PLAIN && c.length === 2) {
    return array(c[1], 'plain column').map(v => {
      if (typeof v === 'bigint') return safe(Number(v), 'column value')
      if (
        v === null ||
        typeof v === 'string' ||
        typeof v === 'boolean' ||
        (typeof v === 'number' && Number.isFinite(v))
      )
        return v
      return fail(`column value of type ${typeof v}`)
    })
  }
  if (c[0] === COL_SCALED && c.length === 3) {
    const k = int(c[1], 'scale')
    if (k < 0 || k > 22) fail(`scale ${k}`)
    const p = 10 ** k
    let m = 0
    return array(c[2], 'scaled column').map(d => {
      m = safe(m + int(d, 'scaled value'), 'scaled value')
      return k === 0 ? m : m / p
    })
  }
  return fail(`unknown column type ${String(c[0])}`)
}

/** A version 2 number, kept as its text: rebuilt by the decimal rule, not by a number formatter. */
class Num {
  constructor(
    readonly text: string,
    readonly value: number
  ) {}
}

function decodeColumnV2(c: unknown): Array<string | boolean | null | Num> {
  if (!Array.isArray(c)) return fail('column is not an array')
  const num = (m: number, k: number): Num => new Num(decimalText(m, k), k === 0 ? m : m / POW10[k]!)
  const literal = (v: unknown, k: number): string | boolean | null | Num => {
    if (typeof v === 'number' || typeof v === 'bigint') return num(int(v, 'column value'), k)
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v
    return fail(`column value of type ${typeof v}`)
  }
  const scale = (v: unknown): number => {
    const k = int(v, 'scale')
    return k < 0 || k > MAX_SCALE ? fail(`scale ${k}`) : k
  }
  if (c[0] === COL_PLAIN && c.length === 2) return array(c[1], 'plain column').map(v => literal(v, 0))
  if (c[0] === COL_PLAIN_SCALED && c.length === 3) {
    const k = scale(c[1])
    return array(c[2], 'plain scaled column').map(v => literal(v, k))
  }
  if (c[0] === COL_SCALED && c.length === 3) {
    const k = scale(c[1])
    let m = 0
    return array(c[2], 'scaled column').map(d => num((m = safe(m + int(d, 'scaled value'), 'scaled value')), k))
  }
  return fail(`unknown column type ${String(c[0])}`)
}

/**
 * Hands out a decoded body's payloads in reading order: kind 0 takes the next raw payload, kind k the
 * next row of shape k - 1. `finish()` fails when any payload was left over.
 */
export class PayloadCursor {
  private rawNext = 0
  private readonly rowOf: number[]

  constructor(
    private readonly raw: readonly unknown[],
    private readonly shapes: readonly DecodedShape[]
  ) {
    this.rowOf = new Array<number>(shapes.length).fill(0)
  }

  next(k: number): Buffer {
    if (k === 0) {
      const p = this.raw[this.rawNext++]
      if (!(p instanceof Uint8Array)) return fail(`raw payload ${this.rawNext - 1} missing or not bytes`)
      return Buffer.isBuffer(p) ? p : Buffer.from(p)
    }
    const shape = this.shapes[k - 1]
    if (shape === undefined) return fail(`payload kind ${k} out of range`)
    const row = this.rowOf[k - 1]!++
    if (row >= shape.rows) fail(`shape ${k - 1} has only ${shape.rows} rows`)
    return shape.payloads[row]!
  }

  finish(): void {
    if (this.rawNext !== this.raw.length) fail(`${this.raw.length - this.rawNext} raw payloads left over`)
    for (let s = 0; s < this.shapes.length; s++)
      if (this.rowOf[s] !== this.shapes[s]!.rows) fail(`shape ${s} has rows left over`)
  }
}
