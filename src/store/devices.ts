/** Device names ↔ the integer ids rows store. Ids made inside a transaction are forgotten if it rolls back. */
import type { Statement } from 'better-sqlite3'
import type { DB } from './db.js'

export class DeviceIds {
  private readonly ids = new Map<string, number>()
  private readonly names = new Map<number, string>()
  private readonly insert: Statement
  /** Devices inserted by the open transaction. */
  private made: string[] = []

  constructor(db: DB) {
    this.insert = db.prepare('INSERT INTO devices (name) VALUES (?)')
    for (const d of db.prepare('SELECT id, name FROM devices').all() as Array<{ id: number; name: string }>) {
      this.ids.set(d.name, d.id)
      this.names.set(d.id, d.name)
    }
  }

  /** The device's id, inserting it (inside the caller's transaction) the first time. */
  idOf(name: string): number {
    let id = this.ids.get(name)
    if (id === undefined) {
      id = Number(this.insert.run(name).lastInsertRowid)
      this.ids.set(name, id)
      this.names.set(id, name)
      this.made.push(name)
    }
    return id
  }

  /** The id of a device already stored, or undefined. */
  readonly find = (name: string): number | undefined => this.ids.get(name)

  /** Devices known. */
  get size(): number {
    return this.ids.size
  }

  nameOf(id: number): string {
    return this.names.get(id) ?? String(id)
  }

  committed(): void {
    this.made = []
  }

  rolledBack(): void {
    for (const name of this.made) {
      this.names.delete(this.ids.get(name)!)
      this.ids.delete(name)
    }
    this.made = []
  }
}
