/**
 * Every secret value the gateway has had in force — the configured ones and those a remote
 * configuration document brought — so the log view, the page and the diagnostics bundle can
 * scrub them from any text, including lines logged before a secret was rotated away.
 */
import { LEAVES } from './load.js'
import type { Config } from './schema.js'

/** Values remembered at most (newest kept): a few secrets, rotated now and then. */
const MAX_VALUES = 64

export class SecretBook {
  private readonly values = new Set<string>()
  /** Longest first, so a secret that contains another is replaced whole. */
  private sorted: string[] = []

  /** Remember the secret settings of `config` (cheap when nothing is new). */
  remember(config: Readonly<Config>): void {
    let added = false
    for (const leaf of LEAVES) {
      if (leaf.spec.secret !== true || leaf.spec.kind === 'map') continue
      let v: unknown = config
      for (const k of leaf.path.split('.')) v = (v as Record<string, unknown> | undefined)?.[k]
      // Very short values would scrub innocent text; the schema asks for long secrets anyway.
      if (typeof v !== 'string' || v.length < 6) continue
      for (const s of [v, JSON.stringify(v).slice(1, -1)]) {
        if (this.values.has(s)) continue
        this.values.add(s)
        added = true
      }
    }
    if (!added) return
    while (this.values.size > MAX_VALUES) this.values.delete(this.values.values().next().value!)
    this.sorted = [...this.values].sort((a, b) => b.length - a.length)
  }

  /** `text` with every remembered secret replaced by [redacted]. */
  scrub(text: string): string {
    let out = text
    for (const s of this.sorted) if (out.includes(s)) out = out.split(s).join('[redacted]')
    return out
  }
}

/** The gateway process's book: the status server and remote configuration feed it. */
export const processSecrets = new SecretBook()
