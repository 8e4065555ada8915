import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, openSync, readdirSync, statSync, truncateSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'

// Damaged buffer files before start: the gateway keeps what is intact, quarantines and reports
// the rest, and starts — never a crash loop, never silent loss of the undamaged part.

const PER_DEVICE = 3000

async function seed(gw: GatewayProcess): Promise<Set<string>> {
  const acked = new Set<string>()
  await Promise.all(
    ['dmg-a', 'dmg-b'].map(async id => {
      const c = await mqtt.connectAsync(gw.url, { clientId: id })
      for (let base = 0; base < PER_DEVICE; base += 100) {
        await Promise.all(
          Array.from({ length: 100 }, async (_, k) => {
            const n = base + k
            await c.publishAsync(
              `devices/${id}/telemetry`,
              JSON.stringify({ ts: 1_700_000_000_000 + n, n, v: 'x'.repeat(64) }),
              { qos: 1 }
            )
            acked.add(`${id} ${n}`)
          })
        )
      }
      await c.endAsync()
    })
  )
  return acked
}

/** Every row left is one of the acknowledged readings, intact; returns how many survived. */
function checkIntact(dataDir: string, acked: Set<string>): number {
  const rows = readBuffer(dataDir)
  for (const r of rows) {
    const doc = JSON.parse(r.payload.toString()) as { n: number; ts: number }
    assert.ok(acked.has(`${r.device} ${doc.n}`), `row ${r.seq} is an acknowledged reading`)
    assert.equal(r.event_ms, doc.ts)
  }
  return rows.length
}

async function afterDamage(gw: GatewayProcess, acked: Set<string>, reason: RegExp): Promise<number> {
  await gw.launch()
  const st = await gw.status()
  const rec = st.store.recovery
  assert.ok(rec !== null, 'the damage is reported in /api/status')
  assert.equal(rec.code, 'HF_ERR_STORE_CORRUPT')
  assert.match(rec.reason, reason)
  assert.ok(
    existsSync(rec.quarantinedTo) && readdirSync(rec.quarantinedTo).length > 0,
    'damaged files kept in quarantine'
  )
  await gw.waitForLog(/HF_ERR_STORE_CORRUPT/)
  // The gateway works: a new reading is stored, with a sequence number above everything kept.
  const before = st.backlog.lastSeq as number
  const c = await mqtt.connectAsync(gw.url, { clientId: 'after' })
  await c.publishAsync('devices/after/telemetry', '{"ts":1700000000000,"n":0}', { qos: 1 })
  await c.endAsync()
  assert.ok((await gw.status()).backlog.lastSeq > before)
  await gw.stop()
  const kept = checkIntact(gw.dataDir, new Set([...acked, 'after 0']))
  // A second start finds sound files: no recovery loop.
  await gw.launch()
  assert.equal((await gw.status()).store.recovery, null)
  await gw.stop()
  return kept
}

test('a torn WAL: the torn frame is discarded and reported, everything before it kept', async () => {
  const gw = await GatewayProcess.start()
  const acked = await seed(gw)
  await gw.kill() // leaves committed frames in the WAL
  const wal = join(gw.dataDir, 'buffer.db-wal')
  const size = statSync(wal).size
  assert.ok(size > 10_000, 'the WAL holds frames')
  truncateSync(wal, size - 1000)
  const kept = await afterDamage(gw, acked, /torn WAL/)
  assert.ok(kept > 0)
})

test('a truncated database file: the readable part is salvaged into a fresh buffer', async () => {
  const gw = await GatewayProcess.start()
  const acked = await seed(gw)
  await gw.stop() // checkpoints everything into buffer.db
  const db = join(gw.dataDir, 'buffer.db')
  truncateSync(db, Math.floor((statSync(db).size * 0.6) / 8192) * 8192 + 100)
  const kept = await afterDamage(gw, acked, /malformed|corrupt|disk image|page|never used|out of order/i)
  assert.ok(kept > 0 && kept < acked.size, `some but not all readings salvaged (${kept} of ${acked.size})`)
})

test('a corrupted page in the middle: readings on either side of it are salvaged', async () => {
  const gw = await GatewayProcess.start()
  const acked = await seed(gw)
  await gw.stop()
  const db = join(gw.dataDir, 'buffer.db')
  const pages = statSync(db).size / 8192
  const fd = openSync(db, 'r+')
  writeSync(fd, Buffer.alloc(8192, 0xa5), 0, 8192, Math.floor(pages / 2) * 8192)
  closeSync(fd)
  const kept = await afterDamage(gw, acked, /malformed|corrupt|disk image|page|never used|out of order|btree/i)
  assert.ok(kept >= acked.size * 0.8, `most readings salvaged around the damaged page (${kept} of ${acked.size})`)
  assert.ok(kept < acked.size)
})
