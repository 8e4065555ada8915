/** Opening the buffer database: pragmas and migrations. Knows SQLite, nothing of MQTT or Kafka. */
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { HoldfastError } from '../errors.js'
import { startCheckpointer, type Checkpointer } from './checkpointer.js'
import { WalSync } from './wal-sync.js'
import { CommitThread } from './commit-thread.js'

export type DB = Database.Database

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
   CREATE TABLE devices (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
   CREATE TABLE readings (
     seq      INTEGER PRIMARY KEY,
     device   INTEGER NOT NULL,
     topic    TEXT    NOT NULL,
     payload  BLOB    NOT NULL,
     recv_ms  INTEGER NOT NULL,
     event_ms INTEGER,
     qos      INTEGER NOT NULL
   );
   -- stored readings are immutable: they are only ever appended and, once forwarded, deleted
   CREATE TRIGGER readings_immutable BEFORE UPDATE ON readings
     BEGIN SELECT RAISE(ABORT, 'readings are immutable'); END;`,
  // Priorities, rollups, retention (README "Aggregation, priorities and uplink budgets").
  // cls = priority (0 = bulk), kind = 0 raw / 1 rollup. Only the rare rows (cls > 0 or rollups) are
  // indexed, so the bulk telemetry insert pays nothing: a partial index is skipped when its WHERE is false.
  `ALTER TABLE readings ADD COLUMN cls INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE readings ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
   CREATE INDEX readings_lanes ON readings (cls, kind, seq) WHERE cls > 0 OR kind > 0;
   -- raw readings kept on the box after forwarding (or, for rollup-only topics, instead of it), oldest id first
   CREATE TABLE kept (
     id       INTEGER PRIMARY KEY,
     seq      INTEGER NOT NULL,
     device   INTEGER NOT NULL,
     topic    TEXT    NOT NULL,
     payload  BLOB    NOT NULL,
     recv_ms  INTEGER NOT NULL,
     event_ms INTEGER,
     qos      INTEGER NOT NULL,
     until_ms INTEGER NOT NULL,
     fwd_ms   INTEGER
   );
   -- open rollup windows' partial aggregates, written in the group commit of the readings they absorbed
   CREATE TABLE rollup_windows (topic TEXT NOT NULL, late INTEGER NOT NULL, start_ms INTEGER NOT NULL, state TEXT NOT NULL,
     PRIMARY KEY (topic, late, start_ms)) WITHOUT ROWID;
   CREATE TABLE rollup_marks (topic TEXT PRIMARY KEY, closed_before INTEGER NOT NULL, watermark INTEGER NOT NULL) WITHOUT ROWID;`,
  // Open windows keyed by an integer id: the per-commit upsert is 3x cheaper than on (topic, late, start).
  `CREATE TABLE rollup_windows_v3 (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, late INTEGER NOT NULL, start_ms INTEGER NOT NULL, state TEXT NOT NULL);
   INSERT INTO rollup_windows_v3 (topic, late, start_ms, state) SELECT topic, late, start_ms, state FROM rollup_windows;
   DROP TABLE rollup_windows;
   ALTER TABLE rollup_windows_v3 RENAME TO rollup_windows;`,
  // The re-send window once readings have left the buffer: one row of packed fingerprints per released run
  // (store/resend-record.ts).
  `CREATE TABLE resend_window (id INTEGER PRIMARY KEY, entries BLOB NOT NULL);`,
  // MQTT 5 metadata (User Properties, Content Type) packed by codec/metadata.ts; NULL when a reading has none
  // (every older row, every 3.1.1 reading), so a reading without metadata costs no byte. Adding a nullable
  // column only rewrites the schema, not the rows.
  `ALTER TABLE readings ADD COLUMN props BLOB;
   ALTER TABLE kept ADD COLUMN props BLOB;`
]

/** After a checkpoint resets the WAL, the file is trimmed back to this size (so it does not keep its peak). */
const JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024

/** How long opening the buffer waits for another process's lock on it (SQLite's busy timeout). */
export const STORE_OPEN_WAIT_MS = 5000

export interface OpenOptions {
  dataDir: string
  synchronous: 'full' | 'normal'
}

export function openDatabase(opts: OpenOptions): DB {
  const file = join(opts.dataDir, 'buffer.db')
  let db: DB
  try {
    mkdirSync(opts.dataDir, { recursive: true })
    db = new Database(file, { timeout: STORE_OPEN_WAIT_MS })
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`)
    // Bigger pages halve the b-tree writes per reading; only takes effect on a new file.
    db.pragma('page_size = 8192')
    migrate(db)
  } catch (err) {
    throw new HoldfastError(
      'HF_ERR_STORE_OPEN',
      `cannot open buffer ${file}: ${(err as Error).message}`,
      { file },
      { cause: err }
    )
  }
  return db
}

function migrate(db: DB): void {
  const version = db.pragma('user_version', { simple: true }) as number
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!)
      db.pragma(`user_version = ${v + 1}`)
    })()
  }
}

/**
 * Move the group commit's fsync off the broker's thread (store.synchronous = full): this connection
 * never syncs and the commit worker syncs the WAL (WalSync) before the PUBACKs leave. OFF, not NORMAL:
 * NORMAL still syncs the WAL header on this thread each time the WAL is reused after a checkpoint. What
 * OFF skips beyond that concerns checkpoints, which run on the checkpointer's own connection, with its
 * own synchronous setting (and if that worker fails, this connection goes back to NORMAL).
 */
export function moveSyncOffThread(db: DB, worker: CommitThread, onError: (message: string) => void): WalSync {
  db.pragma('synchronous = OFF')
  return new WalSync(`${db.name}-wal`, worker, onError)
}

/**
 * Move the group commit's inserts off the broker's thread: a worker with its own connection commits
 * groups of plain inserts (group-commit.ts decides which). With `walSynced` (store.synchronous = full,
 * moveSyncOffThread) its connection never syncs either: the worker fdatasyncs the WAL after each commit.
 */
export function moveCommitsOffThread(db: DB, walSynced: boolean, onError: (message: string) => void): CommitThread {
  const sync = walSynced ? { wal: `${db.name}-wal`, dir: dirname(db.name) } : null
  return new CommitThread(db.name, walSynced ? 'OFF' : 'NORMAL', sync, STORE_OPEN_WAIT_MS, JOURNAL_SIZE_LIMIT, onError)
}

/**
 * Move WAL checkpoints off the commit path to a worker thread. If the worker fails, SQLite's
 * own automatic checkpoints come back, so the WAL can never grow without bound.
 */
export function moveCheckpointsOffThread(
  db: DB,
  synchronous: 'full' | 'normal',
  onError: (message: string) => void
): Checkpointer {
  db.pragma('wal_autocheckpoint = 0')
  // After a checkpoint resets the WAL, trim the file back so it does not keep its peak size.
  db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`)
  return startCheckpointer(db.name, synchronous, message => {
    if (db.open) {
      db.pragma('wal_autocheckpoint = 1000')
      // Checkpoints now run on this connection: they must sync.
      if ((db.pragma('synchronous', { simple: true }) as number) === 0) db.pragma('synchronous = NORMAL')
    }
    onError(message)
  })
}
