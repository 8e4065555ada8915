/**
 * A remote configuration document and its envelope on the config topic.
 *
 * The document is what an operator signs: `{ gatewayId | group, version, confirmWindowS, config }`,
 * where `gatewayId` is one gateway's id or `*` (the fleet default) and `group` a group such as
 * `site=plant-7`; `version` only ever increases within its layer, and `config` is a partial tree of
 * the local config file (merged over the lower layers, `null` removes a key). On the topic it
 * travels as `{ "document": {…}, "signature": { "alg": "ed25519", "keyId": "…", "value": "<base64>" } }`,
 * keyed by its layer key: the gateway id, `*`, or `group:site=plant-7`.
 *
 * What is signed is the document's canonical JSON (below), not the bytes on the wire: whitespace
 * and key order do not matter, and what is verified is exactly the parsed object that is applied.
 */
import type { FieldError } from '../config/load.js'
import { SHORT_ID } from '../config/schema.js'
import { isObject } from '../config/tree.js'

/** The message key (and document gatewayId) of the fleet-wide default. */
export const FLEET_KEY = '*'
export const CONFIRM_WINDOW_S = { default: 60, min: 5, max: 3_600 } as const

export interface ConfigDocument {
  /** A gateway id or `*`; absent on a group document. */
  gatewayId?: string
  /** `name=value` (e.g. `site=plant-7`); absent on a gateway or fleet document. */
  group?: string
  version: number
  /** Seconds the gateway has to reach its uplink after applying, or it rolls back by itself. */
  confirmWindowS: number
  config: Record<string, unknown>
  /** Free text for operators (who, why); signed like the rest, not interpreted. */
  comment?: string
  issuedAt?: string
}

export interface Signature {
  alg: 'ed25519'
  keyId: string
  value: string
}

/** What a config-topic message value holds. */
export interface SignedDocument {
  document: ConfigDocument
  signature: Signature
}

/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, strings and numbers as
 * ECMAScript JSON.stringify writes them, arrays in order. `undefined` members are left out, as
 * JSON.stringify does, so a parsed document and its canonical text always agree.
 */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(x => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`
  if (isObject(v)) {
    const keys = Object.keys(v)
      .filter(k => v[k] !== undefined)
      .sort()
    return `{${keys.map(k => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`
  }
  return JSON.stringify(v) ?? 'null'
}

const DOC_KEYS = new Set(['gatewayId', 'group', 'version', 'confirmWindowS', 'config', 'comment', 'issuedAt'])
/** A group a gateway belongs to: `name=value`, e.g. `site=plant-7`, `hw=pi4`. */
export const GROUP = /^[a-z][a-z0-9_-]{0,31}=[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
export const GROUP_PREFIX = 'group:'

/** The config-topic key (layer key) a document is published under. */
export function layerKeyOf(doc: Pick<ConfigDocument, 'gatewayId' | 'group'>): string {
  return doc.group !== undefined ? `${GROUP_PREFIX}${doc.group}` : (doc.gatewayId ?? '')
}

/** A layer key in words: "the fleet default (*)", "group site=plant-7", "gateway gw-1". */
export function describeKey(key: string): string {
  if (key === FLEET_KEY) return 'the fleet default (*)'
  if (key.startsWith(GROUP_PREFIX)) return `group ${key.slice(GROUP_PREFIX.length)}`
  return `gateway ${key}`
}

/** Check the envelope's own fields (the `config` tree is checked by the config loader); field errors name `document.*`. */
export function checkDocument(raw: unknown): { doc: ConfigDocument; errors: [] } | { doc: null; errors: FieldError[] } {
  const errors: FieldError[] = []
  const err = (field: string, message: string): void => {
    errors.push({ field: `document.${field}`, source: 'document', message })
  }
  if (!isObject(raw)) {
    err('(root)', 'must be an object')
    return { doc: null, errors }
  }
  for (const k of Object.keys(raw)) if (!DOC_KEYS.has(k)) err(k, 'unknown key')
  const { gatewayId, group, version, confirmWindowS, config, comment, issuedAt } = raw
  if (group !== undefined) {
    if (typeof group !== 'string' || !GROUP.test(group))
      err('group', `must be name=value, e.g. site=plant-7 (got ${JSON.stringify(group)})`)
    if (gatewayId !== undefined) err('gatewayId', 'a document targets a gateway (or *) or a group, not both')
  } else if (typeof gatewayId !== 'string' || (gatewayId !== FLEET_KEY && !SHORT_ID.test(gatewayId)))
    err('gatewayId', `must be a gateway id or "${FLEET_KEY}" (got ${JSON.stringify(gatewayId)})`)
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1)
    err('version', `must be an integer from 1 to ${Number.MAX_SAFE_INTEGER} (got ${JSON.stringify(version)})`)
  const window = confirmWindowS ?? CONFIRM_WINDOW_S.default
  if (
    typeof window !== 'number' ||
    !Number.isInteger(window) ||
    window < CONFIRM_WINDOW_S.min ||
    window > CONFIRM_WINDOW_S.max
  ) {
    err(
      'confirmWindowS',
      `must be an integer from ${CONFIRM_WINDOW_S.min} to ${CONFIRM_WINDOW_S.max} (got ${JSON.stringify(confirmWindowS)})`
    )
  }
  if (!isObject(config)) err('config', 'must be an object (the same tree as the config file)')
  if (comment !== undefined && typeof comment !== 'string') err('comment', 'must be a string')
  if (issuedAt !== undefined && typeof issuedAt !== 'string') err('issuedAt', 'must be a string')
  if (errors.length > 0) return { doc: null, errors }
  return {
    doc: {
      ...(group !== undefined ? { group: group as string } : { gatewayId: gatewayId as string }),
      version: version as number,
      confirmWindowS: window as number,
      config: config as Record<string, unknown>,
      comment: comment as string | undefined,
      issuedAt: issuedAt as string | undefined
    },
    errors: []
  }
}
