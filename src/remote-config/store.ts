/**
 * What survives a restart, in `<dataDir>/remote-config.json`: per layer key (`*`, `group:…`,
 * the gateway id) the document in force (as signed, so it is verified again at start) and the
 * highest version ever accepted (no replay, no downgrade — rolled-back versions included); the
 * layers to return to while a change awaits confirmation; and a fingerprint of the last message
 * handled per key (so re-reading the compacted topic after a restart reports nothing twice).
 * Written atomically: temp file, fsync, rename, fsync of the folder.
 *
 * Format 1 (one document, one version sequence across keys) is read and moved to format 2: its
 * document becomes the layer of its key, and its version floor holds for the gateway's own key
 * and `*` both (nothing older than what was applied can come back).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic, writeFileAtomicAsync } from '../platform/atomic-write.js'

export interface StoredDocument {
  /** Message key it came under: `*`, `group:<g>` or this gateway's id. */
  key: string
  version: number
  /** The message value exactly as received (signed JSON). */
  wire: string
  keyId: string
  appliedAt: string
}

/** The change that awaits its confirmation by the uplink. */
export interface PendingChange {
  key: string
  /** The version applied, or null when the change removed the layer (a tombstone). */
  version: number | null
  since: string
  deadline: string
}

export interface RemoteState {
  format: 2
  /** Layer key → the document in force for it. */
  layers: Record<string, StoredDocument>
  /** While `pending`: the confirmed layers to roll back to. */
  previous: Record<string, StoredDocument> | null
  pending: PendingChange | null
  /** Layer key → highest version accepted for it, confirmed or not: a document must be newer. */
  floors: Record<string, number>
  /** Per message key, the SHA-256 of the last value handled ('tombstone' for a deletion). */
  seen: Record<string, string>
}

export const emptyState = (): RemoteState => ({
  format: 2,
  layers: {},
  previous: null,
  pending: null,
  floors: {},
  seen: {}
})

export const statePath = (dataDir: string): string => join(dataDir, 'remote-config.json')

interface StateV1 {
  format: 1
  applied: StoredDocument | null
  previous: StoredDocument | null
  pending: { version: number; since: string; deadline: string } | null
  floor: number
  seen: Record<string, string>
}

function fromV1(s: StateV1, gatewayId: string): RemoteState {
  const one = (d: StoredDocument | null): Record<string, StoredDocument> => (d === null ? {} : { [d.key]: d })
  const floor = s.floor ?? 0
  return {
    format: 2,
    layers: one(s.applied),
    previous: s.pending !== null ? one(s.previous) : null,
    pending:
      s.pending !== null && s.applied !== null
        ? { key: s.applied.key, version: s.pending.version, since: s.pending.since, deadline: s.pending.deadline }
        : null,
    floors: floor > 0 ? { [gatewayId]: floor, '*': floor } : {},
    seen: s.seen ?? {}
  }
}

export function readState(file: string, gatewayId: string): RemoteState {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState()
    throw err
  }
  const s = JSON.parse(text) as RemoteState | StateV1
  if (s.format === 1) return fromV1(s, gatewayId)
  if (s.format !== 2) throw new Error(`${file}: unknown format ${String((s as { format?: unknown }).format)}`)
  return { ...emptyState(), ...s }
}

export function writeState(file: string, s: RemoteState): void {
  writeFileAtomic(file, `${JSON.stringify(s, null, 2)}\n`)
}

/** writeState without blocking the event loop (the broker's thread, while the gateway runs). */
export async function writeStateAsync(file: string, s: RemoteState): Promise<void> {
  await writeFileAtomicAsync(file, `${JSON.stringify(s, null, 2)}\n`)
}
