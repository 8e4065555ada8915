/**
 * One gateway per data directory. Two gateways on one buffer would hand out the same sequence
 * numbers (event ids) and one might take the other's busy buffer for a damaged one. The lock is
 * SQLite's own exclusive file lock on `<dataDir>/gateway.lock`, held by an open connection for the
 * life of the process: the kernel drops it when the process ends, however it ends (even SIGKILL),
 * so a crash never leaves a stale lock behind.
 */
import Database from 'better-sqlite3'
import { accessSync, constants, mkdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { HoldfastError } from '../errors.js'

/** How long a start waits for a gateway that is still stopping to let go. */
const LOCK_WAIT_MS = 3000

export interface DataDirLock {
  release: () => void
}

export function lockDataDir(dataDir: string): DataDirLock {
  usableDir(dataDir)
  const file = join(dataDir, 'gateway.lock')
  let db: Database.Database
  try {
    db = new Database(file, { timeout: LOCK_WAIT_MS })
  } catch (err) {
    throw dirError(dataDir, err)
  }
  try {
    db.pragma('journal_mode = MEMORY')
    db.pragma('locking_mode = EXCLUSIVE')
    // In exclusive locking mode the first write takes the lock, and it is kept until the connection closes.
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL); DELETE FROM holder;')
    db.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid)
  } catch (err) {
    db.close()
    const code = (err as { code?: string }).code ?? ''
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
      throw new HoldfastError(
        'HF_ERR_DATA_DIR_IN_USE',
        `data directory ${dataDir} is in use by another running gateway (lock ${file} held)`,
        { dataDir },
        { cause: err }
      )
    throw dirError(dataDir, err)
  }
  return { release: () => db.close() }
}

/** The data directory exists (or can be made), is a directory and is writable. */
function usableDir(dataDir: string): void {
  try {
    makeDirs(dataDir)
    if (!statSync(dataDir).isDirectory()) throw new Error('not a directory')
    accessSync(dataDir, constants.W_OK)
  } catch (err) {
    throw dirError(dataDir, err)
  }
}

/** mkdir -p, one level at a time: Node 20's recursive mkdirSync never returns on some paths (`/proc/x`). */
function makeDirs(dir: string): void {
  try {
    mkdirSync(dir)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return
    const parent = dirname(dir)
    if (code !== 'ENOENT' || parent === dir) throw err
    makeDirs(parent)
    mkdirSync(dir)
  }
}

function dirError(dataDir: string, err: unknown): HoldfastError {
  const e = err as NodeJS.ErrnoException
  const why = e.code === 'EEXIST' ? 'a file of that name exists' : e.message
  return new HoldfastError(
    'HF_ERR_DATA_DIR',
    `cannot use data directory ${dataDir}: ${why}`,
    { dataDir, reason: e.code ?? e.message },
    { cause: err }
  )
}
