/**
 * The diagnostics bundle a technician downloads and mails to support: one JSON file with
 * the configuration (secrets redacted), the status document, an hour of rates, the recent
 * log lines, the /metrics text and the versions of everything. As a last guard, every
 * secret value ever in force (configured or pushed remotely) is scrubbed from the whole text.
 */
import { readFileSync } from 'node:fs'
import { redact } from '../config/load.js'
import { processSecrets } from '../config/secrets.js'
import type { Config } from '../config/schema.js'
import { VERSION } from '../version.js'

/**
 * Replaces every secret's value (raw and JSON-escaped) with [redacted]: those of `config` as it is
 * at each call (a live view follows remote configuration) and every one in force before.
 */
export function secretScrubber(config: Readonly<Config>): (text: string) => string {
  return text => {
    processSecrets.remember(config)
    return processSecrets.scrub(text)
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
