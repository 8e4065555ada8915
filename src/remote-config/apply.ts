/**
 * From a document's `config` tree to a validated Config, through the same loader as the local
 * file (`loadConfig({ document, flags, env })`), and the interface the running parts implement
 * to take it live.
 *
 * Layering (layers.ts): defaults < the box's config file < the fleet default < groups < the
 * gateway's own document < HOLDFAST_* environment < flags, each layer a partial tree merged
 * field by field. The environment and flags still win, so per-box secrets and a technician's
 * override stay local; such shadowed fields are reported (`overridden`).
 *
 * A document may set every setting the running parts take live; the schema marks the others
 * (NOT_LIVE: `restart` — listeners, the status page, the buffer's open mode; `local` — gateway id,
 * data dir, TLS files, remote.* itself): a document that sets one is rejected with one error per field.
 */
import { readFileSync } from 'node:fs'
import { configError, LEAVES, loadConfig, type FieldError } from '../config/load.js'
import { isField, remoteMark, schema, type Config, type SectionSpec } from '../config/schema.js'
import { isHoldfastError } from '../errors.js'
import { getPath, isObject } from '../config/tree.js'
import { type Layer, mergeLayers, withoutNulls } from './layers.js'

/** May a document set this setting (a leaf path)? Marked in the schema (NOT_LIVE): everything else is live. */
export const isLive = (path: string): boolean => remoteMark(path) === 'live'

/** What the local configuration was built from (the start's flags, environment and file). */
export interface LocalInputs {
  flags: Record<string, string | true>
  env: NodeJS.ProcessEnv
  /** The config file's parsed JSON as read at start, or undefined without a file. */
  fileDoc?: unknown
}

export function readLocalInputs(flags: Record<string, string | true>, env: NodeJS.ProcessEnv): LocalInputs {
  const file =
    typeof flags.config === 'string'
      ? flags.config
      : env.HOLDFAST_CONFIG !== undefined && env.HOLDFAST_CONFIG !== ''
        ? env.HOLDFAST_CONFIG
        : undefined
  const rest: Record<string, string | true> = { ...flags }
  delete rest.config
  const envRest: NodeJS.ProcessEnv = { ...env }
  delete envRest.HOLDFAST_CONFIG
  // The file was read and validated once already (at start): reading it again cannot fail differently.
  return { flags: rest, env: envRest, fileDoc: file !== undefined ? JSON.parse(readFileSync(file, 'utf8')) : undefined }
}

export interface Effective {
  config: Readonly<Config>
  /** Fields the layers set that the environment or a flag overrides here. */
  overridden: string[]
  /** Leaf path → the layer key it comes from (the file's leaves are not listed). */
  origin: Map<string, string>
}

/** Leaf paths a config tree sets, by the schema (a map setting such as `devices` is one leaf). Non-objects where a section is expected are leaves too (the loader names them). */
function leavesSet(doc: Record<string, unknown>, section: SectionSpec = schema, prefix = ''): string[] {
  const out: string[] = []
  for (const [key, value] of Object.entries(doc)) {
    const path = prefix + key
    const spec = Object.hasOwn(section, key) ? section[key] : undefined
    if (spec !== undefined && !isField(spec) && isObject(value)) out.push(...leavesSet(value, spec, `${path}.`))
    else out.push(path)
  }
  return out
}

/** One error per setting a layer sets that the running gateway cannot take live. */
export function localSettingErrors(config: Record<string, unknown>): FieldError[] {
  const known = new Set(LEAVES.map(l => l.path))
  return leavesSet(config)
    .filter(p => known.has(p) && !isLive(p))
    .map(p => ({
      field: p,
      source: 'document',
      message:
        remoteMark(p) === 'restart'
          ? "is a local setting of the gateway: it takes effect only at start (marked restart in the schema), so set it in the box's own configuration"
          : 'is a local setting of the gateway (set in its own configuration; not changed remotely)'
    }))
}

/** The key the config file's leaves carry while layers are merged. */
const FILE_LAYER = '(file)'

/**
 * The configuration the layers (lowest first) give on this box, on top of its config file and
 * under its environment and flags, validated by the config loader; throws HF_ERR_CONFIG_INVALID
 * with one error per field (source "document") otherwise. `requireBrokers: false` skips the
 * check that the uplink is set (for one layer checked alone, before signing).
 */
export function effectiveConfig(
  local: LocalInputs,
  layers: readonly Layer[],
  opts: { requireBrokers?: boolean } = {}
): Effective {
  const errors: FieldError[] = layers.flatMap(l => localSettingErrors(l.config))
  const base: Layer[] = isObject(local.fileDoc) ? [{ key: FILE_LAYER, config: local.fileDoc }] : []
  const { tree, origin } = mergeLayers([...base, ...layers])
  for (const [p, k] of [...origin]) if (k === FILE_LAYER) origin.delete(p)
  let loaded: ReturnType<typeof loadConfig> | undefined
  try {
    loaded = loadConfig({ document: tree, flags: local.flags, env: local.env })
  } catch (err) {
    if (isHoldfastError(err, 'HF_ERR_CONFIG_INVALID')) errors.push(...(err.details.errors as FieldError[]))
    else throw err
  }
  if (opts.requireBrokers !== false && loaded !== undefined && loaded.config.kafka.brokers.length === 0) {
    errors.push({
      field: 'kafka.brokers',
      source: 'document',
      message: 'must not be empty: remote configuration and its reports travel over the uplink'
    })
  }
  if (errors.length > 0 || loaded === undefined) throw configError(errors)
  const sources = loaded.sources
  const set = new Set(layers.flatMap(l => leavesSet(withoutNulls(l.config))))
  const overridden = [...set].filter(p => /^(env|flag) /.test(sources[p] ?? '')).sort()
  return { config: loaded.config, overridden, origin }
}

/** True when two configs differ at `path` (a leaf or a whole section). */
export function differs(a: Readonly<Config>, b: Readonly<Config>, path: string): boolean {
  return (
    JSON.stringify(getPath(a as unknown as Record<string, unknown>, path)) !==
    JSON.stringify(getPath(b as unknown as Record<string, unknown>, path))
  )
}

/**
 * The running parts that take a new configuration live. `prepare` does everything that may fail
 * (checks beyond the schema, building a new Kafka client) and changes nothing; it returns the swap,
 * which only assigns and cannot fail. So a document is applied whole or not at all.
 */
export interface LiveParts {
  prepare: (next: Readonly<Config>, prev: Readonly<Config>) => () => void
}
