/**
 * `<dataDir>/credentials.json`: device secrets managed by `holdfast devices`, as scrypt hashes only.
 * Written atomically (temp file with mode 0600, fsync, rename, fsync of the folder) under a lock
 * file, so a running gateway polling it never sees half a file and two scripts never lose an update.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { HoldfastError } from '../errors.js'
import { isValidDeviceId } from '../codec/reading.js'
import { isUsableHash } from './secret.js'
import { writeFileAtomic } from '../platform/atomic-write.js'

export interface CredentialEntry {
  hash: string
  created: string
  updated: string
}
export interface CredentialsDoc {
  version: 1
  devices: Record<string, CredentialEntry>
}

export const credentialsPath = (dataDir: string): string => join(dataDir, 'credentials.json')

/** The file's devices; an absent file is an empty one. Throws HF_ERR_CREDENTIALS_FILE naming the problem. */
export function readCredentials(path: string): CredentialsDoc {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, devices: {} }
    throw new HoldfastError(
      'HF_ERR_CREDENTIALS_FILE',
      `cannot read ${path}: ${(err as Error).message}`,
      { file: path },
      { cause: err }
    )
  }
  const bad = (why: string): HoldfastError =>
    new HoldfastError('HF_ERR_CREDENTIALS_FILE', `${path}: ${why}`, { file: path })
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`)
  }
  const d = doc as CredentialsDoc
  if (typeof d !== 'object' || d === null || d.version !== 1 || typeof d.devices !== 'object' || d.devices === null)
    throw bad('expected {"version":1,"devices":{…}}')
  const devices: Record<string, CredentialEntry> = Object.create(null)
  for (const [id, e] of Object.entries(d.devices)) {
    if (!isValidDeviceId(id)) throw bad(`devices.${id}: not a device id`)
    if (typeof e?.hash !== 'string' || !isUsableHash(e.hash)) throw bad(`devices.${id}.hash: not a usable scrypt hash`)
    devices[id] = { hash: e.hash, created: String(e.created ?? ''), updated: String(e.updated ?? '') }
  }
  return { version: 1, devices }
}

export function writeCredentials(path: string, doc: CredentialsDoc): void {
  writeFileAtomic(path, JSON.stringify(doc, null, 2) + '\n', { dirMode: 0o700 })
}

/** Read, change and write the file under `<file>.lock`; `change` runs synchronously inside the lock. */
export async function updateCredentials<T>(path: string, change: (doc: CredentialsDoc) => T): Promise<T> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const lock = `${path}.lock`
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600))
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      // A lock left by a killed process is stale after 30 s.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 30_000) rmSync(lock, { force: true })
      } catch {}
      if (Date.now() > deadline)
        throw new HoldfastError('HF_ERR_CREDENTIALS_FILE', `${lock} is held by another process`, { file: lock })
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }
  try {
    const doc = readCredentials(path)
    const result = change(doc)
    writeCredentials(path, doc)
    return result
  } finally {
    rmSync(lock, { force: true })
  }
}
