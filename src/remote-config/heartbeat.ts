/**
 * The heartbeat's body: what an operator needs to see a gateway at a glance from far away —
 * uplink state, backlog, drops (since the last heartbeat and in total), the health verdicts
 * with their codes, the configuration in force and the software version.
 *
 * Built from the same status document as the technician's page (src/status/document.ts): one
 * computation, so the page and the operator see the same figures and the same verdicts. Text
 * that leaves the box has the configured secrets scrubbed.
 */
import type { Config } from '../config/schema.js'
import type { Counters } from '../metrics/counters.js'
import { secretScrubber } from '../status/diagnostics.js'
import type { StatusDocument } from '../status/document.js'

export interface HeartbeatSources {
  counters: Counters
  /** The status document, as /api/status serves it. */
  document: () => StatusDocument
  config: () => Readonly<Config>
}

/** The page's "errors logged" verdict points at the page; the heartbeat names the last error instead. */
function verdictText(p: { code: string; text: string }, doc: StatusDocument): string {
  if (p.code !== 'errors_logged') return p.text
  const last = doc.recentProblems.find(l => l.level === 'error' || l.level === 'fatal')
  if (last === undefined) return p.text
  const code = last.code !== undefined ? `${last.code}: ` : ''
  return `${p.text.replace(/ \(see [^)]*\)$/, '')}; last: ${code}${last.msg}`
}

export function heartbeatBuilder(s: HeartbeatSources): () => Record<string, unknown> {
  let lastDropped: Record<string, number> = { ...s.counters.dropped }
  const delta = (now: Record<string, number>, before: Record<string, number>): Record<string, number> =>
    Object.fromEntries(
      Object.entries(now)
        .map(([k, v]) => [k, v - (before[k] ?? 0)])
        .filter(([, v]) => (v as number) > 0)
    )
  return () => {
    const doc = s.document()
    const c = doc.counters
    const droppedSinceLast = delta(c.dropped, lastDropped)
    lastDropped = { ...c.dropped }
    const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0)
    const scrub = secretScrubber(s.config())
    const u = doc.uplink
    return {
      softwareVersion: doc.version,
      uptimeS: doc.uptimeS,
      uplink: { state: u.state, since: u.since, lastError: u.lastError, drainRate: u.drainRate },
      backlog: { readings: doc.backlog.readings, bytes: doc.backlog.bytes, oldestAgeS: doc.backlog.oldestAgeS },
      counters: {
        received: c.received,
        stored: c.stored,
        forwarded: c.forwarded,
        duplicates: c.duplicates,
        dropped: sum(c.dropped),
        droppedSinceLast,
        refused: sum(c.refused)
      },
      mqtt: {
        listening: doc.mqtt.listening,
        connections: doc.mqtt.connections,
        devicesConnected: doc.devices.filter(d => d.connected).length
      },
      health: {
        level: doc.health.level,
        problems: doc.health.problems.map(p => ({
          code: p.code,
          level: p.level,
          area: p.area,
          text: scrub(verdictText(p, doc))
        }))
      }
    }
  }
}
