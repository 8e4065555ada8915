/**
 * From a document's `config` tree to a validated Config, through the same loader as the local
 * file (`loadConfig({ document, flags, env })`), and the interface the running parts implement
 * to take it live.
 *
 * Layering: the document stands where the config file stood, for the settings it may set —
 * defaults < document < HOLDFAST_* environment < flags. It replaces the file's value of every
 * live setting (one the document leaves out falls back to its default, so the document is the
 * whole desired state), while the environment and flags still win, so per-box secrets and a
 * technician's override stay local; such shadowed fields are reported with the applied event.
 *
 * A document may set only settings the running parts take live (LIVE_SETTINGS). The rest —
 * gateway id, data dir, listeners, TLS files, the status page, remote.* itself — belong to the
 * box: a document that sets them is rejected with one error per field.
 */
import { readFileSync } from 'node:fs'
import { configError, LEAVES, loadConfig, type FieldError } from '../config/load.js'
import { isField, schema, type Config, type SectionSpec } from '../config/schema.js'
import { getPath, isObject, setPath } from '../config/tree.js'
import { isHoldfastError } from '../errors.js'

/**
 * Settings a document may set (a path or a whole section). Each is taken live by admission
 * (devices, apps, quotas, login and subscription limits, the disk budget) or by the forwarder
 * (Kafka link, batching, backoff).
 */
export const LIVE_SETTINGS: readonly string[] = [
  'mqtt.authFailuresPerMin',
  'mqtt.authFailureBurst',
  'mqtt.maxSubscriptionsPerClient',
  'mqtt.maxRetainedPerClient',
  'store.maxBytes',
  'store.minFreeBytes',
  'quota',
  'devices',
  'apps',
  'kafka',
  'batch',
  'uplink'
]

export const isLive = (path: string): boolean => LIVE_SETTINGS.some(p => path === p || path.startsWith(p + '.'))

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
  config: Readonly<Config> /** Fields the document sets that the environment or a flag overrides here. */
  overridden: string[]
}

/** Leaf paths a config tree sets (a map setting such as `devices` is one leaf). Non-objects where a section is expected are leaves too (the loader names them). */
function leavesSet(doc: Record<string, unknown>, section: SectionSpec = schema, prefix = ''): string[] {
  const out: string[] = []
  for (const [key, value] of Object.entries(doc)) {
    const path = prefix + key
    const spec = Object.hasOwn(section, key) ? section[key] : undefined
    if (spec !== undefined && !isField(spec) && isObject(value)) out.push(...leavesSet(value, spec, path + '.'))
    else out.push(path)
  }
  return out
}

function deletePath(o: Record<string, unknown>, path: string): void {
  const keys = path.split('.')
  let cur: unknown = o
  for (const k of keys.slice(0, -1)) cur = isObject(cur) ? cur[k] : undefined
  if (isObject(cur)) delete cur[keys[keys.length - 1]!]
}

/**
 * The configuration a document asks for on this box, validated by the config loader; throws
 * HF_ERR_CONFIG_INVALID with one error per field (source "document") otherwise.
 */
export function effectiveConfig(local: LocalInputs, docConfig: Record<string, unknown>): Effective {
  const set = leavesSet(docConfig)
  const known = new Set(LEAVES.map(l => l.path))
  const errors: FieldError[] = set
    .filter(p => known.has(p) && !isLive(p))
    .map(p => ({
      field: p,
      source: 'document',
      message: 'is a local setting of the gateway (set in its own configuration; not changed remotely)'
    }))
  // The file's local settings, without its live ones (the document replaces those), plus the document.
  const composite: Record<string, unknown> = isObject(local.fileDoc) ? structuredClone(local.fileDoc) : {}
  for (const leaf of LEAVES) if (isLive(leaf.path)) deletePath(composite, leaf.path)
  for (const p of set) if (known.has(p) ? isLive(p) : true) setPath(composite, p, getPath(docConfig, p))
  let loaded: ReturnType<typeof loadConfig> | undefined
  try {
    loaded = loadConfig({ document: composite, flags: local.flags, env: local.env })
  } catch (err) {
    if (isHoldfastError(err, 'HF_ERR_CONFIG_INVALID')) errors.push(...(err.details.errors as FieldError[]))
    else throw err
  }
  if (loaded !== undefined && loaded.config.kafka.brokers.length === 0) {
    errors.push({
      field: 'kafka.brokers',
      source: 'document',
      message: 'must not be empty: remote configuration and its reports travel over the uplink'
    })
  }
  if (errors.length > 0 || loaded === undefined) throw configError(errors)
  const sources = loaded.sources
  const overridden = set.filter(p => /^(env|flag) /.test(sources[p] ?? ''))
  return { config: loaded.config, overridden }
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
