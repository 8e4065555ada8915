/**
 * patches/mqtt-packet+9.0.2.patch consumes a packet's fixed header (first byte and remaining length) in
 * one step: packets must come out the same however the bytes arrive, one at a time or split anywhere,
 * including inside a multi-byte remaining length. The same patch runs the parser's states through a
 * switch: every split below walks each state's entry and exit.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt-packet'

const packets = [
  mqtt.generate({ cmd: 'pingreq' }),
  // 300 bytes of payload: a two-byte remaining length
  mqtt.generate({
    cmd: 'publish',
    topic: 'devices/d-1/t',
    payload: Buffer.alloc(300, 7),
    qos: 1,
    messageId: 42,
    retain: false,
    dup: false
  }),
  mqtt.generate({ cmd: 'publish', topic: 'a', payload: Buffer.from('{"t":1}'), qos: 0, retain: true, dup: false }),
  // 20,000 bytes: three bytes of remaining length
  mqtt.generate({
    cmd: 'publish',
    topic: 'big',
    payload: Buffer.alloc(20_000, 1),
    qos: 1,
    messageId: 7,
    retain: false,
    dup: true
  }),
  mqtt.generate({ cmd: 'puback', messageId: 9 })
]
const stream = Buffer.concat(packets)

function parse(chunks: Buffer[]): unknown[] {
  const parser = mqtt.parser({ protocolVersion: 4 })
  const out: unknown[] = []
  parser.on('packet', p => out.push({ ...p }))
  parser.on('error', e => out.push({ error: e.message }))
  for (const c of chunks) parser.parse(c)
  return out
}

const whole = parse([stream])

test('the stream parses into its five packets', () => {
  assert.equal(whole.length, 5)
  assert.deepEqual(
    whole.map(p => (p as { cmd: string }).cmd),
    ['pingreq', 'publish', 'publish', 'publish', 'puback']
  )
  assert.equal((whole[3] as { payload: Buffer }).payload.length, 20_000)
})

test('split in two anywhere, the same packets', () => {
  for (let cut = 1; cut < 400; cut++)
    assert.deepEqual(parse([stream.subarray(0, cut), stream.subarray(cut)]), whole, `cut ${cut}`)
  const big = packets.slice(0, 3).reduce((n, p) => n + p.length, 0)
  for (let cut = big; cut < big + 6; cut++)
    assert.deepEqual(
      parse([stream.subarray(0, cut), stream.subarray(cut)]),
      whole,
      `cut ${cut} in the 20 KB packet's header`
    )
})

test('one byte at a time, the same packets', () => {
  const bytes: Buffer[] = []
  for (let i = 0; i < stream.length; i++) bytes.push(stream.subarray(i, i + 1))
  assert.deepEqual(parse(bytes), whole)
})

test('an invalid remaining length is still an error', () => {
  const bad = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])
  assert.deepEqual(parse([bad]), [{ error: 'Invalid variable byte integer' }])
  assert.deepEqual(parse([bad.subarray(0, 1), bad.subarray(1, 3), bad.subarray(3)]), [
    { error: 'Invalid variable byte integer' }
  ])
})
