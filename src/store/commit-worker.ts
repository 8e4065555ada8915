/**
 * The commit worker (started by commit-thread.ts): its own connection to the buffer inserts a group
 * of new readings, with the seqs the broker thread assigned, and the next seq, in one transaction.
 * The broker thread hands it only groups that need nothing but inserts (group-commit.ts decides).
 * It answers as soon as the transaction commits, so the broker thread may hand over the next group (or
 * write on its own connection) at once. With store.synchronous = full the connection itself never syncs:
 * the WAL is fdatasynced on libuv's thread pool, one sync at a time, each covering every group committed
 * before it started, and a second answer names the groups it made durable. So a slow fsync (an SD card)
 * overlaps the next groups' transactions instead of holding them up. It also syncs the WAL on request
 * (wal-sync.ts) for the groups the broker thread committed itself.
 */
import Database from 'better-sqlite3'
import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs'
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { forEachInGroup, groupHeader } from './batch-wire.js'
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
}
export type CommitRequest =
  | { type: 'commit'; id: number; buf: ArrayBuffer; offset: number; length: number }
  /** fdatasync the WAL now (store.synchronous = full): for groups committed on the broker thread. */
  | { type: 'sync'; id: number }
  /** The checkpoint job failed: this connection now checkpoints too, and so must sync. */
  | { type: 'checkpoint-inline' }
  /** Close the connection while the others are open: the last one to close (the checkpointer's) checkpoints, with its syncs. */
  | { type: 'close' }
export interface CommitAnswer {
  id: number
  /** The transaction committed; false for a sync. */
  committed: boolean
  /** Why the transaction (or the sync asked for) failed. */
  error: string | null
  /** The answer to 'close': the connection is closed. */
  closed?: true
}
/** A WAL sync after commits (store.synchronous = full): these groups are on disk, or the sync failed. */
export interface SyncedAnswer {
  synced: number[]
  error: string | null
}

const d = workerData as CommitWorkerData
const db = new Database(d.file, { timeout: d.busyTimeoutMs })
db.pragma(`synchronous = ${d.synchronous}`)
// Checkpoints run on the checkpoint job's connection (the background thread).
db.pragma('wal_autocheckpoint = 0')
// The writer that restarts the WAL after a checkpoint trims the file back to this (as db.ts does for the broker's connection).
db.pragma(`journal_size_limit = ${d.journalSizeLimit}`)
const insert = db.prepare(`INSERT INTO readings (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
const putNextSeq = db.prepare(
  "INSERT INTO meta (key, value) VALUES ('next_seq', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)
const commit = db.transaction((b: Buffer) => {
  const { firstSeq, recvMs } = groupHeader(b)
  let seq = firstSeq
  forEachInGroup(b, r => {
    insert.run(seq++, r.device, r.topic, r.payload, recvMs, r.eventMs, r.qos, r.cls, r.kind, r.props)
  })
  putNextSeq.run(seq)
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
const message = (err: unknown): string => String((err as Error)?.message ?? err)

/** Commit ids and sync requests waiting for a sync that starts after them; one sync runs at a time. */
let waiting: Array<{ commit: number } | { request: number }> = []
let syncing = false

function startSync(s: { wal: string; dir: string }): void {
  if (syncing || waiting.length === 0) return
  const covered = waiting
  waiting = []
  const finish = (error: string | null): void => {
    syncing = false
    const synced: number[] = []
    for (const w of covered)
      if ('commit' in w) synced.push(w.commit)
      else answer({ id: w.request, committed: false, error })
    if (synced.length > 0) {
      d.replies.postMessage({ synced, error } satisfies SyncedAnswer)
      count()
    }
    startSync(s)
  }
  syncing = true
  let fd: number
  try {
    // Once: the WAL file's directory entry, so the file itself survives a power cut.
    if (!dirSynced) {
      syncFile(s.dir)
      dirSynced = true
    }
    fd = openSync(s.wal, 'r')
  } catch (err) {
    finish(message(err))
    return
  }
  fdatasync(fd, err => {
    try {
      closeSync(fd)
    } catch {
      // The sync's own outcome is what counts.
    }
    finish(err === null ? null : message(err))
  })
}

function count(): void {
  Atomics.add(d.answered, 0, 1)
  Atomics.notify(d.answered, 0)
}

function answer(a: CommitAnswer): void {
  d.replies.postMessage(a)
  count()
}

parentPort!.on('message', (m: CommitRequest) => {
  if (m.type === 'checkpoint-inline') {
    db.pragma('wal_autocheckpoint = 1000')
    if ((db.pragma('synchronous', { simple: true }) as number) === 0) db.pragma('synchronous = NORMAL')
    return
  }
  if (m.type === 'sync') {
    if (d.sync === null) return answer({ id: m.id, committed: false, error: 'the commit worker has no WAL to sync' })
    waiting.push({ request: m.id })
    return startSync(d.sync)
  }
  if (m.type === 'close') {
    db.close()
    answer({ id: -1, committed: false, error: null, closed: true })
    return
  }
  let committed = false
  let error: string | null = null
  try {
    // IMMEDIATE: take the write lock first (with the busy timeout), never upgrade from a read.
    commit.immediate(Buffer.from(m.buf, m.offset, m.length))
    committed = true
  } catch (err) {
    error = message(err)
  }
  answer({ id: m.id, committed, error })
  if (committed && d.sync !== null) {
    waiting.push({ commit: m.id })
    startSync(d.sync)
  }
})
parentPort!.postMessage({ ready: true })
