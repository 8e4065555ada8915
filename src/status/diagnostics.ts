/**
 * The diagnostics bundle a technician downloads and mails to support: one JSON file with
 * the configuration (secrets redacted), the status document, an hour of rates, the recent
 * log lines, the /metrics text and the versions of everything. As a last guard, every
 * configured secret value is scrubbed from the whole text before it leaves.
 */
import { readFileSync } from 'node:fs'
import { LEAVES, redact } from '../config/load.js'
import type { Config } from '../config/schema.js'
import { VERSION } from '../version.js'

/** Replaces every configured secret's value (raw and JSON-escaped) with [redacted]. */
export function secretScrubber(config: Readonly<Config>): (text: string) => string {
  const secrets: string[] = []
  for (const leaf of LEAVES) {
    if (leaf.spec.secret !== true) continue
    let v: unknown = config
    for (const k of leaf.path.split('.')) v = (v as Record<string, unknown>)[k]
    // Very short values would scrub innocent text; the schema asks for long secrets anyway.
    if (typeof v === 'string' && v.length >= 6) secrets.push(v, JSON.stringify(v).slice(1, -1))
  }
  const unique = [...new Set(secrets)].sort((a, b) => b.length - a.length)
  if (unique.length === 0) return t => t
  return text => {
    let out = text
    for (const s of unique) out = out.split(s).join('[redacted]')
    return out
  }
}

function packageRoot(): string | null {
  for (const rel of ['../../../', '../../']) {
    const dir = new URL(rel, import.meta.url)
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string }
      if (pkg.name === 'holdfast') return dir.pathname
    } catch {}
  }
  return null
}

let cachedVersions: Record<string, unknown> | null = null

/** Versions of Node, Holdfast and the installed runtime dependencies. */
export function versions(): Record<string, unknown> {
  if (cachedVersions !== null) return cachedVersions
  const deps: Record<string, string> = {}
  const root = packageRoot()
  if (root !== null) {
    try {
      const pkg = JSON.parse(readFileSync(root + 'package.json', 'utf8')) as { dependencies?: Record<string, string> }
      for (const name of Object.keys(pkg.dependencies ?? {})) {
        try {
          deps[name] = (
            JSON.parse(readFileSync(`${root}node_modules/${name}/package.json`, 'utf8')) as { version: string }
          ).version
        } catch {
          deps[name] = 'not installed'
        }
      }
    } catch {}
  }
  const v = process.versions
  cachedVersions = {
    holdfast: VERSION,
    node: v.node,
    v8: v.v8,
    openssl: v.openssl,
    uv: v.uv,
    platform: `${process.platform} ${process.arch}`,
    dependencies: deps
  }
  return cachedVersions
}

export interface BundleParts {
  config: Readonly<Config>
  configInfo: { source: string; version: number | null }
  status: unknown
  history: unknown
  logs: unknown
  metrics: string
}

export function diagnosticsBundle(p: BundleParts): { filename: string; body: string } {
  const now = new Date()
  const doc = {
    kind: 'holdfast-diagnostics',
    formatVersion: 1,
    generatedAt: now.toISOString(),
    gatewayId: p.config.gatewayId,
    versions: versions(),
    config: { source: p.configInfo.source, version: p.configInfo.version, settings: redact(p.config) },
    status: p.status,
    rateHistory: p.history,
    logs: p.logs,
    metrics: p.metrics
  }
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')
  return {
    filename: `holdfast-diagnostics-${p.config.gatewayId}-${stamp}.json`,
    body: secretScrubber(p.config)(JSON.stringify(doc, null, 2)) + '\n'
  }
}
