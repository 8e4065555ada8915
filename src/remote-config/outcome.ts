/**
 * The words of a report: outcome types and reasons, the layers in force as a list, and the
 * helpers that turn a failure into a message with field errors.
 */
import type { FieldError } from '../config/load.js'
import { isHoldfastError } from '../errors.js'
import { describe } from '../kafka/client.js'
import { FLEET_KEY, GROUP_PREFIX } from './document.js'
import type { StoredDocument } from './store.js'
import type { SignatureRejectReason } from './verify.js'

/**
 * Why a pushed document was not applied: its signature, its content for this gateway, or the thread
 * working out what it would do failed or did not answer (`planning_failed`).
 */
export type DocumentRejectReason = SignatureRejectReason | 'invalid' | 'wrong_gateway' | 'not_newer' | 'planning_failed'

/** The last outcome, as the heartbeat carries it. */
export interface Outcome {
  type: 'applied' | 'confirmed' | 'rejected' | 'rolled-back' | 'ignored'
  key: string
  version: number | null
  reason: string | null
  message: string | null
  at: string
}

/** `[{ key, version }]`, lowest layer first. */
export function layerList(docs: readonly StoredDocument[]): Array<{ key: string; version: number }> {
  return docs.map(d => ({ key: d.key, version: d.version }))
}

/** What a layer key is, for the `applied` report's `source`. */
export function sourceOf(key: string): 'fleet' | 'group' | 'gateway' {
  return key === FLEET_KEY ? 'fleet' : key.startsWith(GROUP_PREFIX) ? 'group' : 'gateway'
}

/** The version a message claims, if it can be read at all (for reports on messages that fail). */
export function safeVersion(value: Buffer): number | null {
  try {
    const v = (JSON.parse(value.toString('utf8')) as { document?: { version?: unknown } }).document?.version
    return typeof v === 'number' ? v : null
  } catch {
    return null
  }
}

export function explain(err: unknown): { message: string; errors?: FieldError[] } {
  if (isHoldfastError(err, 'HF_ERR_CONFIG_INVALID')) {
    const errors = err.details.errors as FieldError[]
    return { message: `invalid configuration: ${errors.map(e => `${e.field}: ${e.message}`).join('; ')}`, errors }
  }
  return { message: describe(err) }
}
