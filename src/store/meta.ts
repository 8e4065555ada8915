/** Numbers kept in the meta table (next seq, receive-time floor, clock corrections, the uplink budget's usage). */
import type { Statement } from 'better-sqlite3'
import type { DB } from './db.js'

export class Meta {
  private readonly getStmt: Statement
  private readonly setStmt: Statement

  constructor(private readonly db: DB) {
    this.getStmt = db.prepare('SELECT value FROM meta WHERE key = ?').pluck()
    this.setStmt = db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'
    )
  }

  get(key: string): number | undefined {
    return this.getStmt.get(key) as number | undefined
  }

  /** One value; inside a caller's transaction (the group commit) or on its own. */
  put(key: string, value: number): void {
    this.setStmt.run(key, value)
  }

  /** Several values in one transaction. */
  set(entries: Record<string, number>): void {
    this.db.transaction(() => {
      for (const [k, v] of Object.entries(entries)) this.setStmt.run(k, v)
    })()
  }

  /** Entries whose key starts with `prefix`. */
  withPrefix(prefix: string): Array<{ key: string; value: number }> {
    return this.db
      .prepare('SELECT key, value FROM meta WHERE key >= ? AND key < ?')
      .all(prefix, `${prefix}\uffff`) as Array<{ key: string; value: number }>
  }
}
