/** Read a gateway's buffer file directly, as a technician (or a test) would. */
import Database from 'better-sqlite3'
import { join } from 'node:path'

export interface Row {
  seq: number
  device: string
  topic: string
  payload: Buffer
  recv_ms: number
  event_ms: number | null
  qos: number
}

export function readBuffer(dataDir: string): Row[] {
  const db = new Database(join(dataDir, 'buffer.db'), { readonly: true })
  try {
    return db
      .prepare(
        'SELECT r.seq, d.name AS device, r.topic, r.payload, r.recv_ms, r.event_ms, r.qos FROM readings r JOIN devices d ON d.id = r.device ORDER BY r.seq'
      )
      .all() as Row[]
  } finally {
    db.close()
  }
}
