/**
 * The event time of a flat JSON object without JSON.parse: most readings are one level of numbers and
 * strings, and parsing them whole (a string, an object, its properties) was 3–4 % of the broker thread.
 * The scan validates the whole text as JSON.parse would and keeps the last value of each time field
 * (JSON.parse keeps the last of duplicate keys). Anything it does not handle exactly (nested values,
 * escapes, control characters) answers UNSURE, and the caller parses the document the usual way.
 */
import { DEFAULT_TIME_FIELDS, eventMsOfValue } from './time.js'

/** The scan could not decide: parse the document. */
export const UNSURE = Symbol('unsure')

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COLON = 0x3a
const COMMA = 0x2c
const CLOSE = 0x7d

/** The time fields as bytes, in DEFAULT_TIME_FIELDS' order (the first that gives a time wins). */
const FIELDS = DEFAULT_TIME_FIELDS.map(f => Buffer.from(f, 'latin1'))
/** Where each field's last value starts and ends (−1: absent); value kinds below. */
const starts = new Int32Array(FIELDS.length)
const ends = new Int32Array(FIELDS.length)
const kinds = new Uint8Array(FIELDS.length)
const KIND_NUMBER = 1
const KIND_STRING = 2
const KIND_OTHER = 3

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09

/** Index of the field whose name is payload[from, to), or −1. */
function fieldAt(p: Buffer, from: number, to: number): number {
  const len = to - from
  for (let f = 0; f < FIELDS.length; f++) {
    const name = FIELDS[f]!
    if (name.length !== len) continue
    let i = 0
    while (i < len && p[from + i] === name[i]) i++
    if (i === len) return f
  }
  return -1
}

/** End of the JSON number starting at i (JSON's grammar, not Number's), or −1. */
function numberEnd(p: Buffer, i: number): number {
  const n = p.length
  if (p[i] === 0x2d) i++
  if (i >= n) return -1
  if (p[i] === 0x30) i++
  else if (p[i]! >= 0x31 && p[i]! <= 0x39) while (i < n && p[i]! >= 0x30 && p[i]! <= 0x39) i++
  else return -1
  if (p[i] === 0x2e) {
    i++
    const d = i
    while (i < n && p[i]! >= 0x30 && p[i]! <= 0x39) i++
    if (i === d) return -1
  }
  if (p[i] === 0x65 || p[i] === 0x45) {
    i++
    if (p[i] === 0x2b || p[i] === 0x2d) i++
    const d = i
    while (i < n && p[i]! >= 0x30 && p[i]! <= 0x39) i++
    if (i === d) return -1
  }
  return i
}

/** End of the string starting after its opening quote at i (index after the closing quote), or −1: unsure. */
function stringEnd(p: Buffer, i: number): number {
  const n = p.length
  for (; i < n; i++) {
    const c = p[i]!
    if (c === QUOTE) return i + 1
    // Escapes need decoding, and JSON.parse refuses raw control characters: both go the long way.
    if (c === BACKSLASH || c < 0x20) return -1
  }
  return -1
}

/** `word` (true, false, null) at i: its end, or −1. */
function literalEnd(p: Buffer, i: number, word: string): number {
  for (let k = 0; k < word.length; k++) if (p[i + k] !== word.charCodeAt(k)) return -1
  return i + word.length
}

/**
 * The event time of the JSON object whose `{` is at `open` (the README's rule, time.ts), null when it
 * has none, or UNSURE when the text is not a flat object this scan reads exactly (including text that
 * is not JSON at all: JSON.parse then decides).
 */
export function flatJsonEventMs(p: Buffer, open: number): number | null | typeof UNSURE {
  starts.fill(-1)
  const n = p.length
  let i = open + 1
  for (let first = true; ; first = false) {
    while (i < n && isSpace(p[i]!)) i++
    if (i >= n) return UNSURE
    if (p[i] === CLOSE && first) {
      i++
      break
    }
    if (p[i] !== QUOTE) return UNSURE
    const keyStart = i + 1
    const keyEnd = stringEnd(p, keyStart)
    if (keyEnd < 0) return UNSURE
    const field = fieldAt(p, keyStart, keyEnd - 1)
    i = keyEnd
    while (i < n && isSpace(p[i]!)) i++
    if (p[i] !== COLON) return UNSURE
    i++
    while (i < n && isSpace(p[i]!)) i++
    if (i >= n) return UNSURE
    const c = p[i]!
    const valueStart = i
    let kind = KIND_OTHER
    if (c === QUOTE) {
      i = stringEnd(p, i + 1)
      kind = KIND_STRING
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      i = numberEnd(p, i)
      kind = KIND_NUMBER
    } else if (c === 0x74) i = literalEnd(p, i, 'true')
    else if (c === 0x66) i = literalEnd(p, i, 'false')
    else if (c === 0x6e) i = literalEnd(p, i, 'null')
    else return UNSURE
    if (i < 0) return UNSURE
    if (field >= 0) {
      starts[field] = valueStart
      ends[field] = i
      kinds[field] = kind
    }
    while (i < n && isSpace(p[i]!)) i++
    if (p[i] === COMMA) {
      i++
      continue
    }
    if (p[i] !== CLOSE) return UNSURE
    i++
    break
  }
  while (i < n && isSpace(p[i]!)) i++
  if (i !== n) return UNSURE
  for (let f = 0; f < FIELDS.length; f++) {
    if (starts[f]! < 0 || kinds[f] === KIND_OTHER) continue
    const s = starts[f]!
    const e = ends[f]!
    const value = kinds[f] === KIND_NUMBER ? Number(p.toString('latin1', s, e)) : p.toString('utf8', s + 1, e - 1)
    const t = eventMsOfValue(value)
    if (t !== null) return t
  }
  return null
}
