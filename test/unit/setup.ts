/** In-process test fixtures: a real SQLite buffer in a temp dir, a real pino logger whose lines are kept. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { createLogger, type Logger } from '../../src/log.js'
import { openDatabase, type DB } from '../../src/store/db.js'
import { ReadingBuffer, type NewReading } from '../../src/store/buffer.js'

export interface TempBuffer {
  dir: string
  db: DB
  buffer: ReadingBuffer
  /** Close the database and remove the folder. */
  dispose: () => void
  /** Close and open again on the same file: a restart. */
  reopen: () => TempBuffer
}

export function tempBuffer(commitWindowMs = 0, dir = mkdtempSync(join(tmpdir(), 'hf-unit-'))): TempBuffer {
  const db = openDatabase({ dataDir: dir, synchronous: 'normal' })
  const buffer = new ReadingBuffer(db, commitWindowMs)
  return {
    dir,
    db,
    buffer,
    dispose: () => {
      if (db.open) buffer.close()
      rmSync(dir, { recursive: true, force: true })
    },
    reopen: () => {
      if (db.open) buffer.close()
      return tempBuffer(commitWindowMs, dir)
    }
  }
}

export const reading = (device: string, n: number, over: Partial<NewReading> = {}): NewReading => ({
  device,
  topic: `devices/${device}/telemetry`,
  payload: Buffer.from(`{"n":${n}}`),
  eventMs: null,
  qos: 1,
  ...over
})

/** Append and resolve with the seq once the group commit made it durable. */
export const append = (buffer: ReadingBuffer, r: NewReading): Promise<number> =>
  new Promise((resolve, reject) => buffer.append(r, (err, seq) => (err === null ? resolve(seq) : reject(err))))

/** A logger whose JSON lines are kept in `lines`. */
export function memoryLogger(): { log: Logger; lines: () => Array<Record<string, unknown>> } {
  const out: string[] = []
  const dest = new Writable({
    write(chunk, _enc, cb) {
      out.push(...String(chunk).split('\n').filter(Boolean))
      cb()
    }
  })
  const log = createLogger({ level: 'info', destination: dest, ring: null })
  return { log, lines: () => out.map(l => JSON.parse(l) as Record<string, unknown>) }
}
