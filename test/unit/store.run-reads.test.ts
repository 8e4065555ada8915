import { test } from 'node:test'
import assert from 'node:assert/strict'
import { packMetadata } from '../../src/codec/metadata.js'
import { KIND_RAW, rowBytes, type NewReading, type StoredReading } from '../../src/store/reading.js'
import { COLS, type RawRow } from '../../src/store/rows.js'
import { tempBuffer, type TempBuffer } from './setup.js'

// The forwarder reads a request's readings a page at a time, each page as one JSON value and one blob
// of payloads (src/store/run-reads.ts). These readings must be exactly what the rows hold, whatever the
// payload bytes and topic text, across page boundaries (10,000 rows), in every lane.

const N = 25_003
const props = packMetadata('text/plain', [['site', 'annex']])!
const payloadOf = (i: number): Buffer => {
  if (i % 7 === 0) return Buffer.from([0, 0xff, 0xfe, 0x22, 0x5c, i & 0xff, 0]) // binary, NULs, not UTF-8
  if (i % 11 === 0) return Buffer.alloc(0)
  return Buffer.from(`{"t":${i % 50}.5,"n":${i}}`)
}

function fill(): { tb: TempBuffer; devices: string[] } {
  const tb = tempBuffer()
  const devices = ['a', 'b"\\quote', 'c-température-🌡']
  for (let i = 0; i < N; i++) {
    const device = devices[i % devices.length]!
    const r: NewReading = {
      device,
      topic: i % 5 === 0 ? `devices/${device}/x/"ü"/${i}` : `devices/${device}/telemetry`,
      payload: payloadOf(i),
      eventMs: i % 3 === 0 ? null : 1_700_000_000_000 + i,
      qos: i % 2,
      cls: i % 13 === 0 ? 2 : 0,
      props: i % 17 === 0 ? props : null
    }
    tb.buffer.writer.append(r, () => {})
    if (i % 5000 === 4999) tb.buffer.writer.flush()
  }
  tb.buffer.writer.flush()
  return { tb, devices }
}

/** The same readings the plain way: one row at a time. */
function expected(tb: TempBuffer, where: string, args: number[], order = 'ASC'): StoredReading[] {
  const names = new Map(
    (tb.db.prepare('SELECT id, name FROM devices').raw().all() as Array<[number, string]>).map(([id, n]) => [id, n])
  )
  const rows = tb.db
    .prepare(`SELECT ${COLS} FROM readings WHERE ${where} ORDER BY seq ${order} LIMIT ?`)
    .raw()
    .all(...args) as RawRow[]
  if (order === 'DESC') rows.reverse()
  return rows.map(r => ({
    seq: r[0],
    device: names.get(r[1])!,
    topic: r[2],
    payload: r[3],
    recvMs: r[4],
    eventMs: r[5],
    qos: r[6],
    cls: r[7],
    kind: r[8],
    props: r[9]
  }))
}

function same(got: readonly StoredReading[], want: readonly StoredReading[]): void {
  assert.equal(got.length, want.length)
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!
    const w = want[i]!
    assert.ok(Buffer.from(g.payload).equals(w.payload), `payload of seq ${w.seq}`)
    assert.ok(
      (g.props == null && w.props == null) || (g.props != null && w.props != null && g.props.equals(w.props)),
      `props of seq ${w.seq}`
    )
    assert.deepEqual(
      { ...g, payload: null, props: null },
      { ...w, payload: null, props: null },
      `reading ${i} (seq ${w.seq})`
    )
  }
}

test('a bulk lane read over several pages gives every reading as stored, with its release part', async t => {
  const { tb } = fill()
  t.after(tb.dispose)
  const reads = tb.buffer.lanes.reads
  const want = expected(tb, 'cls = 0 AND kind = 0 AND seq > ? AND seq < ?', [0, Number.MAX_SAFE_INTEGER, N])
  assert.ok(want.length > 20_000, 'the read spans three pages')
  const run = reads.lane(0, KIND_RAW, 0, Number.MAX_SAFE_INTEGER, N)
  same(run.readings, want)
  assert.deepEqual(
    [...run.part.seqs],
    want.map(r => r.seq)
  )
  assert.deepEqual(
    [...run.part.bytes],
    want.map(r => rowBytes(r.topic, r.payload, r.props ?? null))
  )
  const ids = new Map(want.map((r, i) => [r.device, run.part.devs[i]]))
  assert.equal(ids.size, 3, 'every device has one id')

  // A window: after one seq, before another, with a limit that ends inside the third page.
  const after = want[100]!.seq
  const before = want[want.length - 50]!.seq
  const part = reads.lane(0, KIND_RAW, after, before, 20_017)
  same(part.readings, expected(tb, 'cls = 0 AND kind = 0 AND seq > ? AND seq < ?', [after, before, 20_017]))
})

test('the live lane reads the newest readings across pages, oldest first; a priority lane reads its own', async t => {
  const { tb } = fill()
  t.after(tb.dispose)
  const reads = tb.buffer.lanes.reads
  const last = tb.buffer.writer.lastSeq()
  const after = 1000
  const live = reads.newestBulk(after, last - 3, 12_345)
  const want = expected(tb, 'cls = 0 AND kind = 0 AND seq > ? AND seq <= ?', [after, last - 3, 12_345], 'DESC')
  assert.equal(want.length, 12_345)
  same(live.readings, want)
  assert.deepEqual(
    [...live.part.seqs],
    want.map(r => r.seq)
  )

  const lane = reads.lane(2, KIND_RAW, 0, Number.MAX_SAFE_INTEGER, N)
  const wantLane = expected(tb, 'cls = 2 AND kind = 0 AND seq > ? AND seq < ?', [0, Number.MAX_SAFE_INTEGER, N])
  assert.ok(wantLane.length > 1900)
  same(lane.readings, wantLane)
  assert.equal(reads.lane(1, KIND_RAW, 0, Number.MAX_SAFE_INTEGER, N).readings.length, 0, 'an empty lane')
})
