import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs'
import { mkdir, open, rename } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * Replace `file` with `data` so that a crash or power cut leaves the old or the new content, never a
 * mix: write a private temp file, fsync it, rename it over, fsync the folder (the rename must survive).
 */
export function writeFileAtomic(file: string, data: string, opts: { dirMode?: number } = {}): void {
  mkdirSync(dirname(file), { recursive: true, mode: opts.dirMode })
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
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}

/** writeFileAtomic off the calling thread's event loop (libuv's pool does the writes and syncs). */
export async function writeFileAtomicAsync(file: string, data: string, opts: { dirMode?: number } = {}): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: opts.dirMode })
  const tmp = `${file}.${process.pid}.tmp`
  const fh = await open(tmp, 'w', 0o600)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, file)
  const dir = await open(dirname(file), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}
