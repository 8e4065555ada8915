/**
 * What to do with one document arriving under a layer key, before anything changes: reject it
 * (signature, envelope, address, version), or accept it with the fields a higher layer decides
 * instead; the controller applies it, or keeps it without effect when it changes nothing in force.
 * Validation of the merged result comes after, when it is applied.
 */
import type { FieldError } from '../config/load.js'
import { checkDocument, describeKey, layerKeyOf } from './document.js'
import { type Layer, supersededLeaves } from './layers.js'
import { type DocumentRejectReason, safeVersion } from './outcome.js'
import type { StoredDocument } from './store.js'
import { type TrustedKey, verifyMessage } from './verify.js'

export type Judgement =
  | { kind: 'reject'; version: number | null; reason: DocumentRejectReason; message: string; errors?: FieldError[] }
  | {
      /** Signed, addressed and newer: applied, or kept without effect when it changes nothing (controller.ts). */
      kind: 'accept'
      stored: StoredDocument
      tree: Record<string, unknown>
      windowS: number
      comment?: string
      /** Leaf → the higher layer that decides it. */
      superseded: Map<string, string>
    }

export interface JudgeContext {
  gatewayId: string
  keys: readonly TrustedKey[]
  /** Highest version accepted on this layer so far. */
  floor: number
  /** Layer keys, lowest first. */
  order: readonly string[]
  /** The layers in force with this one put in. */
  layersWith: (layer: Layer) => Layer[]
}

export function judge(key: string, value: Buffer, c: JudgeContext): Judgement {
  const reject = (
    version: number | null,
    reason: DocumentRejectReason,
    message: string,
    errors?: FieldError[]
  ): Judgement => ({ kind: 'reject', version, reason, message, errors })
  const v = verifyMessage(value, c.keys)
  if (!v.ok) return reject(safeVersion(value), v.reason, v.message)
  const { doc, errors } = checkDocument(v.document)
  if (doc === null) return reject(safeVersion(value), 'invalid', 'the document envelope is invalid', errors)
  const target = layerKeyOf(doc)
  if (target !== key)
    return reject(
      doc.version,
      'wrong_gateway',
      `the document is addressed to ${describeKey(target)} but was published under key ${key}; this gateway is ${c.gatewayId}`
    )
  if (doc.version <= c.floor)
    return reject(
      doc.version,
      'not_newer',
      `version ${doc.version} is not newer than version ${c.floor}, the newest accepted on layer ${key} so far (no replay, no downgrade)`
    )
  const layer = { key, config: doc.config }
  const superseded = supersededLeaves(layer, c.layersWith(layer), c.order)
  return {
    kind: 'accept',
    stored: {
      key,
      version: doc.version,
      wire: value.toString('utf8'),
      keyId: v.keyId,
      appliedAt: new Date().toISOString()
    },
    tree: doc.config,
    windowS: doc.confirmWindowS,
    comment: doc.comment,
    superseded
  }
}
