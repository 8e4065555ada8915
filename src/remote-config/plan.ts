/**
 * What a message on the config topic would do, worked out without changing anything: verify it, judge
 * it, merge the layers it gives and validate the result (the configuration that would be in force), and
 * decide whether it is applied, kept without effect (`superseded`) or rejected. Also the configuration a
 * set of layers gives (a rollback's target). Pure functions of their inputs, so they run on a worker
 * thread (plan-thread.ts): for a document listing thousands of devices this is the expensive part
 * (signature over its canonical JSON, merging, the loader's field checks), and the broker's thread only
 * takes the result.
 */
import { CONFIRM_WINDOW_S, canonicalJson } from './document.js'
import type { Config } from '../config/schema.js'
import type { FieldError } from '../config/load.js'
import { differs, effectiveConfig, type Effective, type LocalInputs } from './apply.js'
import { judge } from './judge.js'
import type { Layer } from './layers.js'
import { leafPaths } from './layers.js'
import { treeOfStored } from './layer-state.js'
import { explain, type DocumentRejectReason } from './outcome.js'
import type { StoredDocument } from './store.js'
import type { TrustedKey } from './verify.js'

export interface PlanContext {
  gatewayId: string
  /** Layer keys, lowest first. */
  order: readonly string[]
  keys: readonly TrustedKey[]
  inputs: LocalInputs
}

/** The part of the controller's state a plan reads. */
export interface PlanState {
  layers: Record<string, StoredDocument>
  floors: Record<string, number>
  /** Fields the layers in force set that a local setting overrides. */
  overridden: readonly string[]
}

export type Plan =
  /** A deletion of a layer that is not in force: nothing to do. */
  | { kind: 'none' }
  | { kind: 'reject'; version: number | null; reason: DocumentRejectReason; message: string; errors?: FieldError[] }
  /** Every field it sets is decided elsewhere and nothing in force changes: kept as the layer, reported ignored. */
  | {
      kind: 'keep'
      stored: StoredDocument
      /** The higher layers that decide its fields. */
      by: string[]
      /** Its fields only local settings decide. */
      local: string[]
      comment?: string
    }
  | {
      kind: 'apply'
      /** The document (null: the layer is deleted). */
      stored: StoredDocument | null
      /** The layers in force once applied. */
      layers: Record<string, StoredDocument>
      windowS: number
      /** Fields of the `applied` report that depend on the message. */
      fields: Record<string, unknown>
      config: Readonly<Config>
      overridden: string[]
      /** Top-level sections that differ from the configuration the layers in force give. */
      changed: string[]
    }

export type LayersResult = { ok: true; config: Readonly<Config>; overridden: string[] } | { ok: false; message: string }

/** The layers of a set of stored documents, each verified again, with `extra` in its place if given. */
function layering(c: PlanContext) {
  const trees = new Map<string, { wire: string; tree: Record<string, unknown> }>()
  const treeOf = (d: StoredDocument): Record<string, unknown> => {
    const hit = trees.get(d.key)
    if (hit !== undefined && hit.wire === d.wire) return hit.tree
    const tree = treeOfStored(d, c.keys)
    trees.set(d.key, { wire: d.wire, tree })
    return tree
  }
  const layersOf = (stored: Record<string, StoredDocument>, extra?: Layer): Layer[] =>
    c.order.flatMap(k => {
      if (extra?.key === k) return [extra]
      const d = stored[k]
      return d === undefined ? [] : [{ key: k, config: treeOf(d) }]
    })
  return {
    layersOf,
    effective: (stored: Record<string, StoredDocument>, extra?: Layer): Effective =>
      effectiveConfig(c.inputs, layersOf(stored, extra))
  }
}

/** The configuration `layers` give on this box, or why they do not apply. */
export function planLayers(c: PlanContext, layers: Record<string, StoredDocument>): LayersResult {
  try {
    const e = layering(c).effective(layers)
    return { ok: true, config: e.config, overridden: e.overridden }
  } catch (err) {
    return { ok: false, message: explain(err).message }
  }
}

/** What the message `value` (null: a tombstone) under layer `key` would do. */
export function planMessage(c: PlanContext, s: PlanState, key: string, value: Buffer | null): Plan {
  const l = layering(c)
  let current: Effective | null | undefined
  const currentConfig = (): Effective | null => {
    if (current === undefined) {
      try {
        current = l.effective(s.layers)
      } catch {
        current = null
      }
    }
    return current
  }
  const apply = (
    stored: StoredDocument | null,
    layers: Record<string, StoredDocument>,
    windowS: number,
    fields: Record<string, unknown>,
    next: Effective | unknown
  ): Plan => {
    if (!isEffective(next)) {
      const { message, errors } = explain(next)
      return { kind: 'reject', version: stored?.version ?? null, reason: 'invalid', message, errors }
    }
    const prev = currentConfig()?.config
    const changed = Object.keys(next.config).filter(
      k => prev === undefined || differs(prev, next.config, k as keyof Config)
    )
    return { kind: 'apply', stored, layers, windowS, fields, config: next.config, overridden: next.overridden, changed }
  }
  const attempt = (f: () => Effective): Effective | unknown => {
    try {
      return f()
    } catch (err) {
      return err
    }
  }

  if (value === null) {
    const gone = s.layers[key]
    if (gone === undefined) return { kind: 'none' }
    const next = { ...s.layers }
    delete next[key]
    return apply(
      null,
      next,
      CONFIRM_WINDOW_S.default,
      { deleted: true, deletedVersion: gone.version },
      attempt(() => l.effective(next))
    )
  }
  let j: ReturnType<typeof judge>
  try {
    j = judge(key, value, {
      gatewayId: c.gatewayId,
      keys: c.keys,
      floor: s.floors[key] ?? 0,
      order: c.order,
      layersWith: layer => l.layersOf(s.layers, layer)
    })
  } catch (err) {
    return { kind: 'reject', version: null, reason: 'invalid', ...explain(err) }
  }
  if (j.kind === 'reject') return j
  const { stored } = j
  const layers = { ...s.layers, [key]: stored }
  const next = attempt(() => l.effective(s.layers, { key, config: j.tree }))
  // Kept without effect when every field it sets is decided elsewhere (a higher layer, or a local
  // setting) and the configuration in force stays exactly the same: a field the layer's previous
  // document set and this one drops is a change (it was reported `ignored`, then took effect
  // silently at the next restart).
  const local = localOnly(j.tree, j.superseded, s.overridden, currentConfig(), next)
  if (local !== null)
    return { kind: 'keep', stored, by: [...new Set(j.superseded.values())], local, comment: j.comment }
  return apply(
    stored,
    layers,
    j.windowS,
    { keyId: stored.keyId, comment: j.comment, superseded: Object.fromEntries(j.superseded) },
    next
  )
}

const isEffective = (e: unknown): e is Effective =>
  typeof e === 'object' && e !== null && 'config' in e && 'overridden' in e && 'origin' in e

/**
 * When `tree` as its layer's document sets only fields decided elsewhere (`superseded` by a higher
 * layer, or overridden locally) and leaves the configuration in force exactly as it is: the fields
 * only local settings decide (none: []). Otherwise null: it is to be applied.
 */
function localOnly(
  tree: Record<string, unknown>,
  superseded: ReadonlyMap<string, string>,
  overriddenNow: readonly string[],
  current: Effective | null,
  next: Effective | unknown
): string[] | null {
  const leaves = leafPaths(tree)
  if (leaves.length === 0) return null
  // Cheap test first (a document may hold thousands of devices): a field neither a higher layer
  // nor a local setting decides today is a change.
  const overridden = new Set(overriddenNow)
  if (!leaves.every(l => superseded.has(l) || overridden.has(l))) return null
  if (current === null || !isEffective(next)) return null
  if (canonicalJson(next.config) !== canonicalJson(current.config)) return null
  const overriddenNext = new Set(next.overridden)
  const local = leaves.filter(l => !superseded.has(l))
  return local.every(l => overriddenNext.has(l)) ? local : null
}
