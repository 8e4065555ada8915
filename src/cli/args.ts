/** argv → { positionals, flags }. Boolean settings take no value (`--allow-anonymous`, or `--allow-anonymous=false`). */
import { HoldfastError } from '../errors.js'
import { LEAVES } from '../config/load.js'

const BOOL_FLAGS = new Set(LEAVES.filter(l => l.spec.kind === 'bool').map(l => l.flag))

export interface ParsedArgs {
  positionals: string[]
  flags: Record<string, string | true>
}

export function parseArgs(argv: readonly string[], extraBool: readonly string[] = []): ParsedArgs {
  const bools = new Set([...BOOL_FLAGS, ...extraBool])
  const positionals: string[] = []
  const flags: Record<string, string | true> = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') {
      positionals.push(...argv.slice(i + 1))
      break
    }
    if (!a.startsWith('--')) {
      positionals.push(a)
      continue
    }
    const eq = a.indexOf('=')
    const name = eq === -1 ? a.slice(2) : a.slice(2, eq)
    if (eq !== -1) flags[name] = a.slice(eq + 1)
    else if (bools.has(name)) flags[name] = true
    else if (i + 1 < argv.length) flags[name] = argv[++i]!
    else throw new HoldfastError('HF_ERR_USAGE', `flag --${name} needs a value`)
  }
  return { positionals, flags }
}
