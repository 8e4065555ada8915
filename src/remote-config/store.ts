/**
 * What survives a restart, in `<dataDir>/remote-config.json`: the applied document (as signed,
 * so it is verified again at start), the confirmed one to return to while a new one awaits
 * confirmation, the highest version ever applied (no replay, no downgrade — rolled-back versions
 * included), and a fingerprint of the last message handled per key (so re-reading the compacted
 * topic after a restart reports nothing twice). Written atomically: temp file, fsync, rename,
 * fsync of the folder.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'

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
  pending: { version: number, since: string, deadline: string } | null
  /** Highest version applied so far, confirmed or not: a document must be newer. */
  floor: number
  /** Per message key, the SHA-256 of the last value handled. */
  seen: Record<string, string>
}

export const emptyState = (): RemoteState => ({ format: 1, applied: null, previous: null, pending: null, floor: 0, seen: {} })

export const statePath = (dataDir: string): string => join(dataDir, 'remote-config.json')

export function readState (file: string): RemoteState {
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

/** Replace `file` with `data` so that a crash or power cut leaves the old or the new content, never a mix. */
export function writeAtomic (file: string, data: string): void {
  mkdirSync(dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  const fd = openSync(tmp, 'w', 0o600)
  try {
    writeSync(fd, data)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
  const dir = openSync(dirname(file), 'r')
  try { fsyncSync(dir) } finally { closeSync(dir) }
}

export function writeState (file: string, s: RemoteState): void {
  writeAtomic(file, JSON.stringify(s, null, 2) + '\n')
}
