/**
 * The commit worker (started by commit-thread.ts): its own connection to the buffer inserts a group
 * of new readings, with the seqs the broker thread assigned, and the next seq, in one transaction.
 * The broker thread hands it only groups that need nothing but inserts (group-commit.ts decides).
 * With store.synchronous = full it then fdatasyncs the WAL (the connection itself never syncs) and
 * answers once, after both: one round trip per group; the broker thread gathers the next group meanwhile.
 * It also syncs the WAL on request (wal-sync.ts) for the groups the broker thread committed itself.
 */
import Database from 'better-sqlite3'
import { closeSync, fdatasyncSync, openSync } from 'node:fs'
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
function sync(s: { wal: string; dir: string }): void {
  syncFile(s.wal)
  // Once: the WAL file's directory entry, so the file itself survives a power cut.
  if (!dirSynced) {
    syncFile(s.dir)
    dirSynced = true
  }
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
    let error: string | null = 'the commit worker has no WAL to sync'
    if (d.sync !== null)
      try {
        sync(d.sync)
        error = null
      } catch (err) {
        error = String((err as Error)?.message ?? err)
      }
    answer({ id: m.id, committed: false, error })
    return
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
    if (d.sync !== null) sync(d.sync)
  } catch (err) {
    error = String((err as Error)?.message ?? err)
  }
  answer({ id: m.id, committed, error })
})
parentPort!.postMessage({ ready: true })
