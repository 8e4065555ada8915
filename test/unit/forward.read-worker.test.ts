import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeBatch } from '../../src/codec/batch.js'
import { type LaneSpec, readLane } from '../../src/forward/lane-read.js'
import { ReadThread } from '../../src/forward/read-thread.js'
import { KIND_RAW } from '../../src/store/reading.js'
import { append, reading, storedRows, tempBuffer } from './setup.js'

const spec = (over: Partial<LaneSpec> = {}): LaneSpec => ({
  cls: 0,
  kind: KIND_RAW,
  className: 'telemetry',
  after: 0,
  before: Number.MAX_SAFE_INTEGER,
  limit: 1000,
  live: null,
  durableSeq: Number.MAX_SAFE_INTEGER,
  corrections: [],
  shape: { gatewayId: 'gw', keyBy: 'gateway', maxReadings: 7, maxBytes: 1 << 20 },
  ...over
})

test('the read worker reads and encodes a lane exactly as the broker thread would, and its parts release it', async t => {
  const tb = tempBuffer()
  t.after(tb.dispose)
  for (let i = 0; i < 40; i++)
    await append(tb.buffer, reading(`d${i % 3}`, i, { eventMs: i % 2 === 0 ? 1_700_000_000_000 + i : null }))
  const thread = new ReadThread(tb.db.name, 1000, message => assert.fail(message))
  t.after(() => thread.close())
  // A backlog read after seq 4 stopping at seq 30, and the live lane's 5 newest past seq 35.
  const s = spec({ after: 4, before: 30, limit: 20, live: { after: 35, limit: 5 } })
  const off = await thread.read(s)
  const inline = readLane(tb.buffer.lanes.reads, s)

  const decoded = off.messages.flatMap(m => decodeBatch(m.value, m.headers))
  assert.deepEqual(
    decoded.map(r => r.seq).sort((a, b) => a - b),
    [...Array.from({ length: 20 }, (_, i) => i + 5), 36, 37, 38, 39, 40],
    'the 20 oldest after seq 4, then the newest 5'
  )
  assert.ok(off.messages.length >= 4, 'cut at maxReadings (7) per message')
  assert.equal(decoded.find(r => r.seq === 7)!.payload.toString(), '{"n":6}')
  assert.deepEqual(
    off.messages.map(m => [m.key, m.value.toString('base64'), m.headers]),
    inline.messages.map(m => [m.key, m.value.toString('base64'), m.headers]),
    'the same bytes as an inline read'
  )
  for (const k of ['seqs', 'devs', 'bytes', 'resend'] as const) {
    assert.deepEqual([...off.backlog[k]], [...inline.backlog[k]], `backlog ${k}`)
    assert.deepEqual([...off.live![k]], [...inline.live![k]], `live ${k}`)
  }
  assert.equal(off.backlog.resend.length, 10 * 20, 'an entry for each reading with an event time')

  const before = tb.buffer.usage.usageTotal().readings
  assert.equal(tb.buffer.lanes.releasePart(off.backlog, 0, 8, true), 8)
  assert.equal(tb.buffer.lanes.releasePart(off.backlog, 8, 20, false), 12)
  assert.equal(tb.buffer.lanes.releasePart(off.live!, 0, 5, true), 5)
  assert.equal(tb.buffer.usage.usageTotal().readings, before - 25)
  assert.deepEqual(
    storedRows(tb.db).map(r => r.seq),
    [1, 2, 3, 4, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35],
    'exactly the released readings are gone'
  )
  const remembered = tb.db.prepare('SELECT sum(length(entries)) FROM resend_window').pluck().get()
  assert.equal(remembered, 20 * (10 + 2), 'the re-send record holds their fingerprints')
})

test('a read worker that cannot open the buffer says so, and reads go on inline', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-read-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const errors: string[] = []
  // A folder is not a database file: the worker fails as it starts.
  const thread = new ReadThread(dir, 100, message => errors.push(message))
  t.after(() => thread.close())
  await assert.rejects(thread.read(spec()))
  assert.equal(thread.usable, false)
  assert.equal(errors.length, 1, errors.join('; '))
})
