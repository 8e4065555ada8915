/**
 * Settings from defaults < config file < HOLDFAST_* environment < flags, validated once.
 * A bad value stops the start with a message naming the field, where it came from
 * and what is allowed; the core trusts the frozen, typed result.
 */
import { readFileSync } from 'node:fs'
import { HoldfastError } from '../errors.js'
import { schema, isField, hostDefaults, type Config, type FieldSpec, type SectionSpec } from './schema.js'
import { isObject, setPath } from './tree.js'

export interface Leaf {
  path: string
  spec: FieldSpec
  flag: string
  env: string
}

const kebab = (s: string): string => s.replace(/[A-Z]/g, c => '-' + c.toLowerCase())

function leavesOf(section: SectionSpec, prefix: string[] = []): Leaf[] {
  const out: Leaf[] = []
  for (const [key, spec] of Object.entries(section)) {
    const path = [...prefix, key]
    if (isField(spec)) {
      const flag = spec.flag ?? path.map(kebab).join('-')
      out.push({ path: path.join('.'), spec, flag, env: 'HOLDFAST_' + flag.replace(/-/g, '_').toUpperCase() })
    } else {
      out.push(...leavesOf(spec, path))
    }
  }
  return out
}

export const LEAVES: readonly Leaf[] = leavesOf(schema)
const BY_FLAG = new Map(LEAVES.map(l => [l.flag, l]))
const BY_ENV = new Map(LEAVES.map(l => [l.env, l]))
/** Environment names that are not settings but are ours. */
const OTHER_ENV = new Set(['HOLDFAST_CONFIG'])

export interface FieldError {
  field: string
  source: string
  message: string
}
interface Raw {
  value: unknown
  source: string
}

export interface LoadInput {
  /** Flags already split into name → raw string (booleans may be true). */
  flags?: Record<string, string | true>
  env?: NodeJS.ProcessEnv
  /** Config file path; default from flags.config or HOLDFAST_CONFIG. */
  file?: string
  /** An already-parsed document (remote config uses this path). */
  document?: unknown
}

export interface Loaded {
  config: Readonly<Config>
  sources: Record<string, string>
  file?: string
}

export function loadConfig(input: LoadInput = {}): Loaded {
  const env = input.env ?? process.env
  const flags = { ...(input.flags ?? {}) }
  const errors: FieldError[] = []
  const raw = new Map<string, Raw>()

  const file =
    input.file ??
    (typeof flags.config === 'string' ? flags.config : undefined) ??
    (env.HOLDFAST_CONFIG !== undefined && env.HOLDFAST_CONFIG !== '' ? env.HOLDFAST_CONFIG : undefined)
  delete flags.config
  let doc = input.document
  if (file !== undefined) {
    try {
      doc = JSON.parse(readFileSync(file, 'utf8'))
    } catch (err) {
      throw new HoldfastError(
        'HF_ERR_CONFIG_FILE',
        `cannot read config file ${file}: ${(err as Error).message}`,
        { file },
        { cause: err }
      )
    }
  }
  if (doc !== undefined) flattenDocument(doc, schema, [], raw, errors, file !== undefined ? `file ${file}` : 'document')

  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('HOLDFAST_') || OTHER_ENV.has(name) || value === undefined) continue
    const leaf = BY_ENV.get(name)
    if (leaf === undefined) errors.push({ field: name, source: 'environment', message: 'unknown setting' })
    else raw.set(leaf.path, { value, source: `env ${name}` })
  }
  for (const [name, value] of Object.entries(flags)) {
    const leaf = BY_FLAG.get(name)
    if (leaf === undefined) errors.push({ field: `--${name}`, source: 'flags', message: 'unknown flag' })
    else raw.set(leaf.path, { value, source: `flag --${name}` })
  }

  const out: Record<string, unknown> = {}
  const sources: Record<string, string> = {}
  for (const leaf of LEAVES) {
    const r = raw.get(leaf.path)
    sources[leaf.path] = r?.source ?? 'default'
    const value = r === undefined ? leaf.spec.default : coerce(leaf, r, errors)
    setPath(out, leaf.path, Array.isArray(value) ? [...value] : value)
  }
  errors.push(...priorityConflicts(out, sources))
  if (errors.length > 0) throw configError(errors)
  return { config: deepFreeze(hostDefaults(out as unknown as Config)), sources, file }
}

/** Priority classes must not share a priority: each lane has one class, and one budget behaviour. */
function priorityConflicts(out: Record<string, unknown>, sources: Record<string, string>): FieldError[] {
  const classes = (out.priority as { classes?: Record<string, { priority?: number }> } | undefined)?.classes ?? {}
  const seen = new Map<number, string>()
  const errors: FieldError[] = []
  for (const [name, c] of Object.entries(classes)) {
    if (typeof c?.priority !== 'number') continue
    const prev = seen.get(c.priority)
    if (prev !== undefined)
      errors.push({
        field: `priority.classes.${name}.priority`,
        source: sources['priority.classes'] ?? 'default',
        message: `${c.priority} is already the priority of class ${prev}`
      })
    else seen.set(c.priority, name)
  }
  return errors
}

export function configError(errors: FieldError[]): HoldfastError {
  const lines = errors.map(e => `  ${e.field}: ${e.message} (${e.source})`)
  return new HoldfastError('HF_ERR_CONFIG_INVALID', `invalid configuration:\n${lines.join('\n')}`, { errors })
}

function flattenDocument(
  doc: unknown,
  section: SectionSpec,
  prefix: string[],
  raw: Map<string, Raw>,
  errors: FieldError[],
  source: string
): void {
  if (!isObject(doc)) {
    errors.push({ field: prefix.join('.') || '(root)', source, message: 'must be an object' })
    return
  }
  for (const [key, value] of Object.entries(doc)) {
    const path = [...prefix, key]
    const spec = Object.hasOwn(section, key) ? section[key] : undefined
    if (spec === undefined) errors.push({ field: path.join('.'), source, message: 'unknown key' })
    else if (isField(spec)) raw.set(path.join('.'), { value, source })
    else flattenDocument(value, spec, path, raw, errors, source)
  }
}

function coerce(leaf: Leaf, r: Raw, errors: FieldError[]): unknown {
  const { spec } = leaf
  // A secret's value is never echoed (stderr goes to the journal): the field and the rule say enough.
  const got = spec.secret === true ? 'value not shown: secret' : `got ${JSON.stringify(r.value)}`
  const fail = (allowed: string): undefined => {
    errors.push({ field: leaf.path, source: r.source, message: `must be ${allowed} (${got})` })
    return undefined
  }
  const v = r.value
  switch (spec.kind) {
    case 'int':
    case 'number': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN
      const what = spec.kind === 'int' ? 'an integer' : 'a number'
      if (!Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n)) || n < spec.min || n > spec.max) {
        return fail(`${what} from ${spec.min} to ${spec.max}`)
      }
      return n
    }
    case 'bool':
      if (v === true || v === false) return v
      if (typeof v === 'string' && /^(1|true|yes|on)$/i.test(v)) return true
      if (typeof v === 'string' && /^(0|false|no|off)$/i.test(v)) return false
      return fail('true or false')
    case 'enum':
      if (typeof v === 'string' && spec.values.includes(v)) return v
      return fail(`one of ${spec.values.join(', ')}`)
    case 'string':
      if (typeof v !== 'string') return fail('a string')
      if (spec.pattern !== undefined && v !== '' && !spec.pattern.test(v))
        return fail(spec.patternDoc ?? String(spec.pattern))
      return v
    case 'list': {
      const items = Array.isArray(v)
        ? v
        : typeof v === 'string'
          ? v
              .split(',')
              .map(s => s.trim())
              .filter(s => s !== '')
          : null
      if (items === null || !items.every(i => typeof i === 'string')) return fail('a list of strings (comma-separated)')
      if (spec.pattern !== undefined && !items.every(i => spec.pattern!.test(i)))
        return fail(`a list of ${spec.patternDoc ?? 'items'}`)
      return items
    }
    case 'map':
      return coerceMap(leaf.path, spec, r, errors)
  }
}

/** A map setting: a JSON object (or JSON text from a flag or variable) of entries, each field checked and named in full. */
function coerceMap(path: string, spec: Extract<FieldSpec, { kind: 'map' }>, r: Raw, errors: FieldError[]): unknown {
  let v = r.value
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v)
    } catch {
      v = undefined
    }
  }
  if (!isObject(v)) {
    errors.push({ field: path, source: r.source, message: 'must be a JSON object of entries' })
    return undefined
  }
  const out: Record<string, unknown> = {}
  for (const [key, entry] of Object.entries(v)) {
    if (!spec.keyPattern.test(key))
      errors.push({ field: `${path}.${key}`, source: r.source, message: `the name must be ${spec.keyDoc}` })
    else out[key] = coerceEntry(entry, spec.entry, `${path}.${key}`, r.source, errors)
    for (const req of spec.required ?? []) {
      if (typeof entry === 'object' && entry !== null && !Object.hasOwn(entry, req))
        errors.push({ field: `${path}.${key}.${req}`, source: r.source, message: 'is required' })
    }
  }
  return out
}

function coerceEntry(
  doc: unknown,
  section: SectionSpec,
  path: string,
  source: string,
  errors: FieldError[]
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (!isObject(doc)) {
    errors.push({ field: path, source, message: 'must be an object' })
    return out
  }
  for (const [key, value] of Object.entries(doc)) {
    const spec = Object.hasOwn(section, key) ? section[key] : undefined
    const p = `${path}.${key}`
    if (spec === undefined) errors.push({ field: p, source, message: 'unknown key' })
    else if (isField(spec)) out[key] = coerce({ path: p, spec, flag: '', env: '' }, { value, source }, errors)
    else out[key] = coerceEntry(value, spec, p, source, errors)
  }
  return out
}

export function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v)
    Object.freeze(o)
  }
  return o
}

/** The config with secrets replaced, for logs, the status API and diagnostics. */
export function redact(cfg: Readonly<Config>): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(cfg)) as Record<string, unknown>
  for (const leaf of LEAVES) {
    if (leaf.spec.kind === 'map') {
      // Secret fields inside entries (password hashes) are redacted one by one.
      const secrets = Object.entries(leaf.spec.entry)
        .filter(([, f]) => isField(f) && f.secret === true)
        .map(([k]) => k)
      for (const entry of Object.values((copy[leaf.path] ?? {}) as Record<string, Record<string, unknown>>)) {
        for (const k of secrets) if (typeof entry[k] === 'string' && entry[k] !== '') entry[k] = '[redacted]'
      }
      continue
    }
    if (leaf.spec.secret !== true) continue
    const keys = leaf.path.split('.')
    let cur = copy
    for (const k of keys.slice(0, -1)) cur = cur[k] as Record<string, unknown>
    const last = keys[keys.length - 1]!
    if (cur[last] !== '') cur[last] = '[redacted]'
  }
  return copy
}
