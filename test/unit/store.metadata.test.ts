import { test } from 'node:test'
import assert from 'node:assert/strict'
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { packMetadata, unpackMetadata } from '../../src/codec/metadata.js'
import { openDatabase } from '../../src/store/db.js'
import { KIND_RAW, rowBytes } from '../../src/store/reading.js'
import { append, reading, tempBuffer } from './setup.js'

// A reading's MQTT 5 metadata is stored with it (the `props` column, NULL when it has none), read back
// for forwarding, and counted in its bytes the same way live and in the start-up scan.

const props = packMetadata('application/json', [
  ['site', 'plant-7'],
  ['site', 'annex'],
  ['line', '3']
])!

const propsColumn = (db: Database.Database): Array<Buffer | null> =>
  db.prepare('SELECT props FROM readings ORDER BY seq').pluck().all() as Array<Buffer | null>

test('metadata is stored with its reading and read back for forwarding; readings without any store NULL', async t => {
  const tb = tempBuffer()
  t.after(tb.dispose)
  await append(tb.buffer, reading('a', 0, { props }))
  await append(tb.buffer, reading('a', 1))
  await append(tb.buffer, reading('a', 2, { props: null }))
  const col = propsColumn(tb.db)
  assert.ok(col[0]!.equals(props))
  assert.deepEqual(col.slice(1), [null, null], 'no metadata, no bytes')
  const again = tb.reopen()
  t.after(again.dispose)
  const read = again.buffer.lanes.readLane(0, KIND_RAW, 0, Number.MAX_SAFE_INTEGER, 10)
  assert.deepEqual(unpackMetadata(read[0]!.props!), {
    userProperties: [
      ['site', 'plant-7'],
      ['site', 'annex'],
      ['line', '3']
    ],
    contentType: 'application/json'
  })
  assert.deepEqual(
    read.slice(1).map(r => r.props),
    [null, null]
  )
})

test('metadata counts in a reading’s bytes: live accounting, the start-up scan, evictions and kept readings agree', async t => {
  const tb = tempBuffer()
  t.after(tb.dispose)
  const plain = reading('a', 0)
  const withProps = reading('a', 1, { props })
  await append(tb.buffer, plain)
  await append(tb.buffer, withProps)
  await append(tb.buffer, reading('b', 2, { props }))
  const a = rowBytes(plain.topic, plain.payload) + rowBytes(withProps.topic, withProps.payload, props)
  assert.equal(
    rowBytes(withProps.topic, withProps.payload, props) - rowBytes(withProps.topic, withProps.payload),
    props.length
  )
  assert.deepEqual(tb.buffer.usage.usageOf('a'), { readings: 2, bytes: a })
  const live = tb.buffer.usage.usageTotal().bytes

  const again = tb.reopen()
  t.after(again.dispose)
  assert.equal(again.buffer.usage.usageTotal().bytes, live, 'the start-up scan counts what live accounting counted')
  assert.deepEqual(again.buffer.usage.usageOf('a'), { readings: 2, bytes: a })

  // An eviction of device a's oldest two frees exactly their bytes, metadata included.
  const done = new Promise<void>(resolve => again.buffer.writer.onCommit(resolve))
  again.buffer.evictions.evictOldest('a', 2, 0, 'quota_drop_oldest')
  await done
  assert.deepEqual(again.buffer.usage.usageOf('a'), { readings: 0, bytes: 0 })

  // Released with retention: b's reading moves to kept with its metadata and its bytes.
  again.buffer.retention.setRetention(60_000)
  again.buffer.lanes.releaseRun(again.buffer.lanes.readLane(0, KIND_RAW, 0, Number.MAX_SAFE_INTEGER, 10))
  const kept = again.buffer.retention.keptTotal()
  assert.deepEqual(kept, { readings: 1, bytes: rowBytes('devices/b/telemetry', Buffer.from('{"n":2}'), props) })
  assert.ok((again.db.prepare('SELECT props FROM kept').pluck().get() as Buffer).equals(props), 'kept with it')
  const third = again.reopen()
  t.after(third.dispose)
  assert.deepEqual(third.buffer.retention.keptTotal(), kept, 'kept bytes scanned at start agree')
})

test('a buffer file from before metadata is migrated on open: its readings have none, new ones keep theirs', async t => {
  const tb = tempBuffer()
  t.after(tb.dispose)
  await append(tb.buffer, reading('a', 0))
  tb.buffer.close()
  // Turn the file back into the previous schema version, as an older release left it.
  const file = join(tb.dir, 'buffer.db')
  const old = new Database(file)
  old.exec('ALTER TABLE readings DROP COLUMN props; ALTER TABLE kept DROP COLUMN props; PRAGMA user_version = 4;')
  old.close()
  const migrated = openDatabase({ dataDir: tb.dir, synchronous: 'normal' })
  assert.equal(migrated.pragma('user_version', { simple: true }), 5)
  migrated.close()
  const again = tempBuffer(0, tb.dir)
  t.after(again.dispose)
  assert.deepEqual(propsColumn(again.db), [null], 'an old reading has no metadata')
  await append(again.buffer, reading('a', 1, { props }))
  const read = again.buffer.lanes.readLane(0, KIND_RAW, 0, Number.MAX_SAFE_INTEGER, 10)
  assert.deepEqual(
    read.map(r => r.props?.equals(props) ?? null),
    [null, true]
  )
})
