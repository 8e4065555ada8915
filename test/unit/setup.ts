/** In-process test fixtures: a real SQLite buffer in a temp dir, a real pino logger whose lines are kept. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { createLogger, type Logger } from '../../src/log.js'
import { openDatabase, type DB } from '../../src/store/db.js'
import { ReadingBuffer } from '../../src/store/buffer.js'
import type { NewReading } from '../../src/store/reading.js'

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
  new Promise((resolve, reject) => buffer.writer.append(r, (err, seq) => (err === null ? resolve(seq) : reject(err))))

/** Every buffered reading, oldest first, read from the file as a technician would. */
export const storedRows = (db: DB): Array<{ seq: number; device: string; payload: Buffer }> =>
  db
    .prepare(
      'SELECT r.seq, d.name AS device, r.payload FROM readings r JOIN devices d ON d.id = r.device ORDER BY r.seq'
    )
    .all() as Array<{ seq: number; device: string; payload: Buffer }>

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
