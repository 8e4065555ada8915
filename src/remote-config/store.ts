/**
 * What survives a restart, in `<dataDir>/remote-config.json`: the applied document (as signed,
 * so it is verified again at start), the confirmed one to return to while a new one awaits
 * confirmation, the highest version ever applied (no replay, no downgrade — rolled-back versions
 * included), and a fingerprint of the last message handled per key (so re-reading the compacted
 * topic after a restart reports nothing twice). Written atomically: temp file, fsync, rename,
 * fsync of the folder.
 */
import { readFileSync } from 'node:fs'
import { writeFileAtomic } from '../platform/atomic-write.js'
import { join } from 'node:path'

export interface StoredDocument {
  /** Message key it came under: this gateway's id or `*`. */
  key: string
  version: number
  /** The message value exactly as received (signed JSON). */
  wire: string
  keyId: string
  appliedAt: string
}

export interface RemoteState {
  format: 1
  applied: StoredDocument | null
  /** While `pending`: the confirmed document to roll back to (null = the local configuration). */
  previous: StoredDocument | null
  pending: { version: number; since: string; deadline: string } | null
  /** Highest version applied so far, confirmed or not: a document must be newer. */
  floor: number
  /** Per message key, the SHA-256 of the last value handled. */
  seen: Record<string, string>
}

export const emptyState = (): RemoteState => ({
  format: 1,
  applied: null,
  previous: null,
  pending: null,
  floor: 0,
  seen: {}
})

export const statePath = (dataDir: string): string => join(dataDir, 'remote-config.json')

export function readState(file: string): RemoteState {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyState()
    throw err
  }
  const s = JSON.parse(text) as RemoteState
  if (s.format !== 1) throw new Error(`${file}: unknown format ${String(s.format)}`)
  return { ...emptyState(), ...s }
}

export function writeState(file: string, s: RemoteState): void {
  writeFileAtomic(file, JSON.stringify(s, null, 2) + '\n')
}
