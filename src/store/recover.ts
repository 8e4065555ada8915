/**
 * Opening the buffer when its files may be damaged (a torn write on an SD card, a truncated or
 * bit-flipped page). SQLite itself discards a torn WAL tail. Anything worse is found by
 * `quick_check` at start; then the damaged files are moved to `quarantine/<time>/`, a fresh
 * buffer is created, and every reading that can still be read is copied into it. The gateway
 * starts either way — never a crash loop — and the report says what was kept and what was not.
 */
import Database from 'better-sqlite3'
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  writeFileSync
} from 'node:fs'
import { join } from 'node:path'
import { HoldfastError } from '../errors.js'
import { openDatabase, STORE_OPEN_WAIT_MS, type DB, type OpenOptions } from './db.js'

export interface RecoveryReport {
  code: 'HF_ERR_STORE_CORRUPT'
  at: string
  reason: string
  quarantinedTo: string
  salvagedReadings: number
  /** Sequence ranges that could not be read (first, last), where they could be located. */
  unreadableRanges: Array<[number, number]>
  /** Set when the sequence counter itself was lost and was moved far ahead to keep event ids unique. */
  seqJumpedTo: number | null
}

/** Sequence numbers skipped when the counter is unreadable: no event id may ever be reused. */
const SEQ_SAFETY_GAP = 1_000_000_000
const CHUNK = 2000
const WAL_HEADER = 32
const WAL_FRAME_HEADER = 24

export function openBuffer(opts: OpenOptions): { db: DB; recovery: RecoveryReport | null } {
  const torn = tornWal(opts.dataDir)
  let reason: string
  try {
    const db = openDatabase(opts)
    const check = db.pragma('quick_check(1)', { simple: true }) as string
    if (check === 'ok') {
      if (torn === null) return { db, recovery: null }
      // SQLite has already dropped the torn frames (and any commit they held); say so.
      return {
        db,
        recovery: {
          code: 'HF_ERR_STORE_CORRUPT',
          at: new Date().toISOString(),
          reason: torn.reason,
          quarantinedTo: torn.copy,
          salvagedReadings: db.prepare('SELECT count(*) FROM readings').pluck().get() as number,
          unreadableRanges: [],
          seqJumpedTo: null
        }
      }
    }
    reason = check
    db.close()
  } catch (err) {
    // Locked by another process is not damaged: moving a healthy buffer aside would strand its readings.
    if (isBusy(err))
      throw new HoldfastError(
        'HF_ERR_STORE_BUSY',
        `buffer ${join(opts.dataDir, 'buffer.db')} stayed locked by another process for ${STORE_OPEN_WAIT_MS / 1000} s; not touched`,
        { dataDir: opts.dataDir },
        { cause: err }
      )
    reason = (err as Error).message
  }
  return recover(opts, torn === null ? reason : `${torn.reason}; ${reason}`)
}

/**
 * A WAL whose length is not a whole number of frames was cut mid-write. Keep a copy of it in
 * quarantine before SQLite discards the torn tail on open.
 */
function tornWal(dataDir: string): { reason: string; copy: string } | null {
  const wal = join(dataDir, 'buffer.db-wal')
  if (!existsSync(wal)) return null
  const size = statSync(wal).size
  if (size < WAL_HEADER) return null
  const header = Buffer.alloc(WAL_HEADER)
  const fd = openSync(wal, 'r')
  try {
    readSync(fd, header, 0, WAL_HEADER, 0)
  } finally {
    closeSync(fd)
  }
  const pageSize = header.readUInt32BE(8)
  if (pageSize < 512 || (size - WAL_HEADER) % (WAL_FRAME_HEADER + pageSize) === 0) return null
  const dir = join(dataDir, 'quarantine', new Date().toISOString().replace(/[:.]/g, '-'))
  mkdirSync(dir, { recursive: true })
  copyFileSync(wal, join(dir, 'buffer.db-wal'))
  return {
    reason: `torn WAL: ${(size - WAL_HEADER) % (WAL_FRAME_HEADER + pageSize)} bytes of a partly written frame discarded`,
    copy: dir
  }
}

function recover(opts: OpenOptions, reason: string): { db: DB; recovery: RecoveryReport } {
  const at = new Date()
  const dir = join(opts.dataDir, 'quarantine', at.toISOString().replace(/[:.]/g, '-'))
  mkdirSync(dir, { recursive: true })
  for (const suffix of ['', '-wal', '-shm']) {
    const f = join(opts.dataDir, `buffer.db${suffix}`)
    if (existsSync(f)) renameSync(f, join(dir, `buffer.db${suffix}`))
  }
  const db = openDatabase(opts)
  const report: RecoveryReport = {
    code: 'HF_ERR_STORE_CORRUPT',
    at: at.toISOString(),
    reason,
    quarantinedTo: dir,
    salvagedReadings: 0,
    unreadableRanges: [],
    seqJumpedTo: null
  }
  salvage(join(dir, 'buffer.db'), db, report)
  writeFileSync(join(dir, 'report.json'), JSON.stringify(report, null, 2))
  return { db, recovery: report }
}

function salvage(damagedFile: string, fresh: DB, report: RecoveryReport): void {
  let old: DB
  try {
    old = new Database(damagedFile, { readonly: true, fileMustExist: true })
  } catch (err) {
    report.reason += `; nothing salvageable: ${(err as Error).message}`
    fresh.prepare("INSERT INTO meta (key, value) VALUES ('next_seq', ?)").run(SEQ_SAFETY_GAP)
    report.seqJumpedTo = SEQ_SAFETY_GAP
    return
  }
  try {
    const tryGet = <T>(fn: () => T): T | undefined => {
      try {
        return fn()
      } catch {
        return undefined
      }
    }
    const devices =
      tryGet(() => old.prepare('SELECT id, name FROM devices').all() as Array<{ id: number; name: string }>) ?? []
    const insDevice = fresh.prepare('INSERT OR IGNORE INTO devices (id, name) VALUES (?, ?)')
    // Each device's re-send window too, so re-sends of forwarded readings keep being recognised.
    const window = tryGet(() => old.prepare('SELECT id, entries FROM resend_window').raw().all()) ?? []
    const insWindow = fresh.prepare('INSERT OR IGNORE INTO resend_window (id, entries) VALUES (?, ?)')
    fresh.transaction(() => {
      for (const d of devices) insDevice.run(d.id, d.name)
      for (const w of window) insWindow.run(...(w as unknown[]))
    })()

    const oldCols = new Set(
      (tryGet(() => old.prepare('PRAGMA table_info(readings)').all() as Array<{ name: string }>) ?? []).map(c => c.name)
    )
    const cols = (fresh.prepare('PRAGMA table_info(readings)').all() as Array<{ name: string }>)
      .map(c => c.name)
      .filter(c => oldCols.has(c))
    let maxSeq = 0
    if (cols.includes('seq')) {
      const list = cols.join(', ')
      const read = old.prepare(`SELECT ${list} FROM readings WHERE seq > ? ORDER BY seq LIMIT ${CHUNK}`).raw()
      const probe = old.prepare('SELECT seq FROM readings WHERE seq > ? ORDER BY seq LIMIT 1').pluck()
      const insert = fresh.prepare(`INSERT INTO readings (${list}) VALUES (${cols.map(() => '?').join(', ')})`)
      const seqAt = cols.indexOf('seq')
      let after = 0
      for (;;) {
        let rows: unknown[][]
        try {
          rows = read.all(after) as unknown[][]
        } catch {
          // Skip the damaged stretch: probe further and further ahead for the next readable row.
          const resume = skipDamaged(probe, after)
          if (resume === null) {
            report.unreadableRanges.push([after + 1, -1])
            break
          }
          report.unreadableRanges.push([after + 1, resume - 1])
          after = resume - 1
          continue
        }
        if (rows.length === 0) break
        fresh.transaction(() => {
          for (const r of rows) insert.run(...r)
        })()
        report.salvagedReadings += rows.length
        after = rows[rows.length - 1]![seqAt] as number
        maxSeq = Math.max(maxSeq, after)
      }
    }
    const nextSeq = tryGet(
      () => old.prepare("SELECT value FROM meta WHERE key = 'next_seq'").pluck().get() as number | undefined
    )
    let next: number
    if (typeof nextSeq === 'number' && nextSeq > maxSeq) {
      next = nextSeq
    } else {
      next = maxSeq + 1 + SEQ_SAFETY_GAP
      report.seqJumpedTo = next
    }
    fresh
      .prepare(
        "INSERT INTO meta (key, value) VALUES ('next_seq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
      )
      .run(next)
  } finally {
    old.close()
  }
}

/** SQLITE_BUSY / SQLITE_LOCKED (and their extended codes), here or as the cause of a store error. */
function isBusy(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined; e != null; e = e.cause as typeof e) {
    if (typeof e.code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(e.code)) return true
  }
  return false
}

function skipDamaged(probe: Database.Statement, after: number): number | null {
  for (let step = 1; step < 2 ** 40; step *= 2) {
    try {
      const seq = probe.get(after + step) as number | undefined
      if (seq === undefined) return null
      return seq
    } catch {}
  }
  return null
}
