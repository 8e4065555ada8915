/**
 * The commit worker (started by commit-thread.ts): its own connection to the buffer inserts a group
 * of new readings, with the seqs the broker thread assigned, and the next seq, in one transaction.
 * The broker thread hands it only groups that need nothing but inserts (group-commit.ts decides).
 * With store.synchronous = full it then fdatasyncs the WAL (the connection itself never syncs) and
 * answers once, after both: one round trip per group. The fdatasync runs on libuv's thread pool, so
 * the next group (the broker thread may hand over two) commits while the previous one syncs, and one
 * sync covers every group committed before it started: on slow storage (an SD card's 5-20 ms) the
 * sync's latency is overlapped, not added to every group. It also syncs the WAL on request
 * (wal-sync.ts) for the groups the broker thread committed itself.
 */
import Database from 'better-sqlite3'
import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs'
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { GROUP_HEAD, groupHeader, ROW_VALUES, readRowInto } from './batch-wire.js'
import { COLS } from './rows.js'

export interface CommitWorkerData {
  file: string
  /** OFF when WalSync syncs the WAL (store.synchronous = full), NORMAL otherwise. */
  synchronous: 'OFF' | 'NORMAL'
  busyTimeoutMs: number
  journalSizeLimit: number
  /** The WAL file and its directory, synced after each commit (store.synchronous = full); null = no sync. */
  sync: { wal: string; dir: string } | null
  /** Answers go here, so the broker thread can also take one synchronously at shutdown. */
  replies: MessagePort
  /** Answers posted so far: the broker thread waits on it with Atomics.wait at shutdown. */
  answered: Int32Array
  /** The WAL syncs done here: [count, total µs, longest µs] (commit-thread.ts reads them for /metrics). */
  syncStats: BigInt64Array
}
export type CommitRequest =
  | { type: 'commit'; id: number; epoch: number; buf: ArrayBuffer; offset: number; length: number }
  /** fdatasync the WAL now (store.synchronous = full): for groups committed on the broker thread. */
  | { type: 'sync'; id: number }
  /** The checkpoint job failed: this connection now checkpoints too, and so must sync. */
  | { type: 'checkpoint-inline' }
  /** Close the connection while the others are open: the last one to close (the checkpointer's) checkpoints, with its syncs. */
  | { type: 'close' }
export interface CommitAnswer {
  id: number
  /** The transaction committed (if `error` is set too, the sync after it failed); false for a sync. */
  committed: boolean
  error: string | null
  /** The answer to 'close': the connection is closed. */
  closed?: true
}

const d = workerData as CommitWorkerData
const db = new Database(d.file, { timeout: d.busyTimeoutMs })
db.pragma(`synchronous = ${d.synchronous}`)
// Checkpoints run on the checkpoint job's connection (the background thread).
db.pragma('wal_autocheckpoint = 0')
// The writer that restarts the WAL after a checkpoint trims the file back to this (as db.ts does for the broker's connection).
db.pragma(`journal_size_limit = ${d.journalSizeLimit}`)
// Appends touch only the right edge of each b-tree: 32 pages of cache instead of SQLite's default 2 MB,
// which this connection filled for nothing (with the checkpoint job's, bench/backlog.ts's RSS fell 3 MB).
db.pragma('cache_size = -256')
const one = `(${Array(ROW_VALUES).fill('?').join(', ')})`
const insertOne = db.prepare(`INSERT INTO readings (${COLS}) VALUES ${one}`)
// Readings go in ROWS to a statement: one call into SQLite per ROWS rows instead of per row (the group's
// rest one by one), no object per reading. In the closed loop this thread's CPU fell from 1.57-1.59 µs a
// reading to 1.42-1.43 (3 Dec, /proc per-thread times); on one core that CPU is the broker thread's too.
const ROWS = 16
const insertMany = db.prepare(`INSERT INTO readings (${COLS}) VALUES ${Array(ROWS).fill(one).join(', ')}`)
const manyValues: unknown[] = new Array(ROWS * ROW_VALUES).fill(null)
const oneValues: unknown[] = new Array(ROW_VALUES).fill(null)
const putNextSeq = db.prepare(
  "INSERT INTO meta (key, value) VALUES ('next_seq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)
const commit = db.transaction((b: Buffer) => {
  const { count, firstSeq, recvMs } = groupHeader(b)
  let seq = firstSeq
  let o = GROUP_HEAD
  let i = 0
  for (; i + ROWS <= count; i += ROWS) {
    for (let k = 0; k < ROWS; k++) o = readRowInto(b, o, seq++, recvMs, manyValues, k * ROW_VALUES)
    insertMany.run(manyValues)
  }
  for (; i < count; i++) {
    o = readRowInto(b, o, seq++, recvMs, oneValues, 0)
    insertOne.run(oneValues)
  }
  putNextSeq.run(seq)
  // The values hold views into the group's buffer: let it go with the group.
  manyValues.fill(null)
  oneValues.fill(null)
})

let dirSynced = false
function syncFile(path: string): void {
  const fd = openSync(path, 'r')
  try {
    fdatasyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Answers waiting for a sync that starts after their commit; `syncing`: one runs on the thread pool. */
let unsynced: CommitAnswer[] = []
let syncing = false
/** 'close' came while syncs were owed: the connection closes once they are answered. */
let closeWanted = false
/**
 * The epoch of the last group that failed to commit. The groups the broker thread handed over with the
 * same epoch (before it saw the failure) carry the seqs after the failed group's, so they fail too.
 */
let failedEpoch = -1

/** Answer `a` once the WAL is on disk up to now (at once without store.synchronous = full); answers keep their order. */
function afterSync(a: CommitAnswer): void {
  if (d.sync === null) return answer(a)
  unsynced.push(a)
  startSync(d.sync)
}

function startSync(s: { wal: string; dir: string }): void {
  if (syncing || unsynced.length === 0) return
  const covered = unsynced
  unsynced = []
  const done = (error: string | null): void => {
    syncing = false
    for (const a of covered) answer(error === null ? a : { ...a, error: a.error ?? error })
    startSync(s)
    if (!syncing && closeWanted) close()
  }
  let fd: number
  try {
    // Once: the WAL file's directory entry, so the file itself survives a power cut.
    if (!dirSynced) {
      syncFile(s.dir)
      dirSynced = true
    }
    fd = openSync(s.wal, 'r')
  } catch (err) {
    return done(String((err as Error)?.message ?? err))
  }
  syncing = true
  const started = performance.now()
  fdatasync(fd, err => {
    if (err === null) noteSync(performance.now() - started)
    try {
      closeSync(fd)
    } catch {
      // A descriptor opened read-only and already synced: nothing its close could lose.
    }
    done(err === null ? null : String(err.message))
  })
}

function noteSync(ms: number): void {
  const us = BigInt(Math.round(ms * 1000))
  Atomics.add(d.syncStats, 0, 1n)
  Atomics.add(d.syncStats, 1, us)
  // This thread is the only writer.
  if (us > Atomics.load(d.syncStats, 2)) Atomics.store(d.syncStats, 2, us)
}

function close(): void {
  db.close()
  answer({ id: -1, committed: false, error: null, closed: true })
}

function answer(a: CommitAnswer): void {
  d.replies.postMessage(a)
  Atomics.add(d.answered, 0, 1)
  Atomics.notify(d.answered, 0)
}

parentPort!.on('message', (m: CommitRequest) => {
  if (m.type === 'checkpoint-inline') {
    db.pragma('wal_autocheckpoint = 1000')
    if ((db.pragma('synchronous', { simple: true }) as number) === 0) db.pragma('synchronous = NORMAL')
    return
  }
  if (m.type === 'sync') {
    if (d.sync === null) answer({ id: m.id, committed: false, error: 'the commit worker has no WAL to sync' })
    else afterSync({ id: m.id, committed: false, error: null })
    return
  }
  if (m.type === 'close') {
    if (syncing) closeWanted = true
    else close()
    return
  }
  // Its seqs follow those of a group that failed: committing it would leave a hole in the seqs.
  if (m.epoch === failedEpoch)
    return afterSync({ id: m.id, committed: false, error: 'refused: the group ahead of it failed to commit' })
  try {
    // IMMEDIATE: take the write lock first (with the busy timeout), never upgrade from a read.
    commit.immediate(Buffer.from(m.buf, m.offset, m.length))
  } catch (err) {
    failedEpoch = m.epoch
    // Behind the groups still syncing: answers go back in the order the groups came.
    return afterSync({ id: m.id, committed: false, error: String((err as Error)?.message ?? err) })
  }
  afterSync({ id: m.id, committed: true, error: null })
})
parentPort!.postMessage({ ready: true })
