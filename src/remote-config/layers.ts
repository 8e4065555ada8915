/**
 * Layering: the configuration in force is built from partial trees, lowest first —
 * the box's config file < the fleet default (`*`) < the gateway's groups, in the order of
 * `remote.groups` < the gateway's own document — then the environment and flags on top (the
 * config loader does that part). Each layer is merged field by field: objects merge, arrays and
 * scalars replace, and `null` removes a key (and what lower layers set under it).
 *
 * Pure functions; the origin of every leaf is tracked so a report can say which layer a field
 * came from and which fields of a document a higher layer supersedes.
 */
import { isObject } from '../config/tree.js'
import { FLEET_KEY, GROUP_PREFIX } from './document.js'

/** Layer keys of a gateway, lowest first: `*`, `group:<g>` for each of its groups in order, its own id. */
export function layerOrder(gatewayId: string, groups: readonly string[]): string[] {
  return [FLEET_KEY, ...groups.map(g => `${GROUP_PREFIX}${g}`), gatewayId]
}

export interface Layer {
  key: string
  config: Record<string, unknown>
}

export interface Merged {
  tree: Record<string, unknown>
  /** Leaf path → the key of the layer it came from. */
  origin: Map<string, string>
}

/** Leaf paths of a tree: scalars, arrays and nulls are leaves; an empty object is a leaf too. */
export function leafPaths(tree: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = []
  for (const [k, v] of Object.entries(tree)) {
    const path = prefix + k
    if (isObject(v) && Object.keys(v).length > 0) out.push(...leafPaths(v, `${path}.`))
    else out.push(path)
  }
  return out
}

const under = (path: string, p: string): boolean => p === path || p.startsWith(`${path}.`)

function mergeInto(
  target: Record<string, unknown>,
  over: Record<string, unknown>,
  key: string,
  origin: Map<string, string>,
  prefix: string
): void {
  for (const [k, v] of Object.entries(over)) {
    const path = prefix + k
    if (v === null) {
      delete target[k]
      for (const p of [...origin.keys()]) if (under(path, p)) origin.delete(p)
    } else if (isObject(v) && isObject(target[k])) {
      // An object over an object merges; the lower object's own origin (if it was an empty leaf) goes.
      origin.delete(path)
      mergeInto(target[k] as Record<string, unknown>, v, key, origin, `${path}.`)
    } else {
      for (const p of [...origin.keys()]) if (under(path, p)) origin.delete(p)
      target[k] = structuredClone(v)
      if (isObject(v) && Object.keys(v).length > 0) for (const leaf of leafPaths(v, `${path}.`)) origin.set(leaf, key)
      else origin.set(path, key)
    }
  }
}

/** Merge layers, lowest first. Nulls never reach the result. */
export function mergeLayers(layers: readonly Layer[]): Merged {
  const tree: Record<string, unknown> = {}
  const origin = new Map<string, string>()
  for (const l of layers) mergeInto(tree, l.config, l.key, origin, '')
  return { tree, origin }
}

/** A document's tree without its nulls (what it sets, for checks that look at one layer alone). */
export function withoutNulls(tree: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(tree)) {
    if (v === null) continue
    out[k] = isObject(v) ? withoutNulls(v) : v
  }
  return out
}

/**
 * The leaves `layer` sets (nulls included: a removal counts) that a higher layer decides instead,
 * given the merged origins of all layers. Returns the superseding layer per leaf.
 */
export function supersededLeaves(layer: Layer, all: readonly Layer[], order: readonly string[]): Map<string, string> {
  const rank = new Map(order.map((k, i) => [k, i]))
  const mine = rank.get(layer.key) ?? -1
  const out = new Map<string, string>()
  const higher = all.filter(l => (rank.get(l.key) ?? -1) > mine)
  for (const leaf of leafPaths(layer.config)) {
    for (const h of higher) {
      if (setsAtOrAbove(h.config, leaf)) out.set(leaf, h.key)
    }
  }
  return out
}

/** Does `tree` set `path` itself, something under it, or a non-object at one of its ancestors? */
function setsAtOrAbove(tree: Record<string, unknown>, path: string): boolean {
  const keys = path.split('.')
  let cur: unknown = tree
  for (let i = 0; i < keys.length; i++) {
    if (!isObject(cur) || !Object.hasOwn(cur, keys[i]!)) return false
    cur = cur[keys[i]!]
    if (i < keys.length - 1 && !isObject(cur)) return true
  }
  return true
}
