/** Checks shared by the decoders: every malformed input becomes HF_ERR_DECODE, never another error. */
import { HoldfastError } from '../errors.js'

export const fail = (message: string, details: Record<string, unknown> = {}, cause?: unknown): never => {
  throw new HoldfastError(
    'HF_ERR_DECODE',
    `batch could not be decoded: ${message}`,
    details,
    cause === undefined ? undefined : { cause }
  )
}

export function array(v: unknown, what: string, length?: number): unknown[] {
  if (!Array.isArray(v)) return fail(`${what} is not an array`)
  if (length !== undefined && v.length !== length) fail(`${what} has ${v.length} entries, expected ${length}`)
  return v
}

export function text(v: unknown, what: string): string {
  return typeof v === 'string' ? v : fail(`${what} is not text`)
}

export function int(v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER))
    return Number(v)
  return fail(`${what} is not a safe integer`)
}

/** recvMs + an offset beyond 53 bits; the sum must still be a safe integer. */
export function bigSum(recvMs: number, offset: bigint): number {
  const sum = BigInt(recvMs) + offset
  return sum <= BigInt(Number.MAX_SAFE_INTEGER) && sum >= BigInt(Number.MIN_SAFE_INTEGER)
    ? Number(sum)
    : fail('eventMs out of the safe integer range')
}

export function safe(n: number, what: string): number {
  return Number.isSafeInteger(n) ? n : fail(`${what} out of the safe integer range`)
}

/** CBOR has 64-bit integers; cbor-x writes numbers beyond 32 bits as float64 unless given a bigint. */
export type Int = number | bigint
export const cborInt = (n: number): Int => (n <= 0xffffffff && n >= -0xffffffff ? n : BigInt(n))
