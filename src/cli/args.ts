/**
 * argv → { positionals, flags }. A boolean setting takes no value (`--allow-anonymous`), an attached one
 * (`--allow-anonymous=false`) or a separate true/false word (`--allow-anonymous false`): a value written
 * after the flag must never be left behind as a positional while the switch turns on.
 */
import { HoldfastError } from '../errors.js'
import { LEAVES } from '../config/load.js'

const BOOL_FLAGS = new Set(LEAVES.filter(l => l.spec.kind === 'bool').map(l => l.flag))
/** The words a boolean setting accepts (config/load.ts coerces them). */
const BOOL_WORD = /^(1|0|true|false|yes|no|on|off)$/i

export interface ParsedArgs {
  positionals: string[]
  flags: Record<string, string | true>
}

export function parseArgs(argv: readonly string[], extraBool: readonly string[] = []): ParsedArgs {
  const extra = new Set(extraBool)
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
    const next = argv[i + 1]
    if (eq !== -1) flags[name] = a.slice(eq + 1)
    else if (extra.has(name)) flags[name] = true
    else if (BOOL_FLAGS.has(name)) flags[name] = next !== undefined && BOOL_WORD.test(next) ? argv[++i]! : true
    else if (next !== undefined) flags[name] = argv[++i]!
    else throw new HoldfastError('HF_ERR_USAGE', `flag --${name} needs a value`)
  }
  return { positionals, flags }
}
