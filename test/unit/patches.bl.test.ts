/**
 * patches/bl+6.1.6.patch: the MQTT parser's reads and strings inside the first buffer are taken in
 * place, without a Buffer object per read. Every read must give what a plain Buffer of the same bytes
 * gives, inside the first buffer, across a boundary and past the end.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { BufferList } = require('bl') as {
  BufferList: new (
    bufs?: Buffer[]
  ) => {
    readUInt8(o?: number): number
    readUInt16BE(o?: number): number
    readInt32LE(o?: number): number
    readUIntBE(o: number, n: number): number
    toString(enc?: BufferEncoding, start?: number, end?: number): string
    consume(n: number): unknown
  }
}

test('the patch is applied', () => {
  const src = readFileSync(require.resolve('bl/BufferList.js'), 'utf8')
  assert.match(src, /holdfast patch/)
})

test('reads and strings give the same as one Buffer of the same bytes, wherever the buffers split', () => {
  const whole = Buffer.from('\x30\x0f\x00\x05héllo-wörld\x12\x34\x56\x78\xff', 'latin1')
  for (let cut = 0; cut <= whole.length; cut++) {
    const list = new BufferList([whole.subarray(0, cut), whole.subarray(cut)].filter(b => b.length > 0))
    for (let o = 0; o < whole.length; o++) {
      assert.equal(list.readUInt8(o), whole.readUInt8(o), `readUInt8(${o}) cut ${cut}`)
      if (o + 2 <= whole.length)
        assert.equal(list.readUInt16BE(o), whole.readUInt16BE(o), `readUInt16BE(${o}) cut ${cut}`)
      if (o + 4 <= whole.length) assert.equal(list.readInt32LE(o), whole.readInt32LE(o), `readInt32LE(${o}) cut ${cut}`)
      if (o + 3 <= whole.length) assert.equal(list.readUIntBE(o, 3), whole.readUIntBE(o, 3))
      for (const end of [o, o + 1, o + 7, whole.length])
        if (end <= whole.length)
          assert.equal(
            list.toString('utf8', o, end),
            whole.toString('utf8', o, end),
            `toString(${o}, ${end}) cut ${cut}`
          )
    }
    assert.equal(list.toString(), whole.toString())
    assert.equal(list.toString('hex', 2), whole.toString('hex', 2))
  }
})

test('after consume the reads start at the new front', () => {
  const list = new BufferList([Buffer.from([1, 2, 3]), Buffer.from([4, 5, 6])])
  list.consume(2)
  assert.equal(list.readUInt8(0), 3)
  assert.equal(list.readUInt16BE(0), 0x0304)
  list.consume(1)
  assert.equal(list.readUInt8(), 4)
  assert.throws(() => list.readUInt8(3), RangeError, 'past the end, as the unpatched slice does')
})
