import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DEVICE_ID, deviceOfTopic, documentOf, eventTimeOf, isValidDeviceId } from '../../src/codec/reading.js'
import { eventMsOfDocument } from '../../src/codec/time.js'
import { loadConfig } from '../../src/config/load.js'

test('reading topics: devices/<id>/<stream...> names the device; anything else is no reading', () => {
  assert.equal(deviceOfTopic('devices/press-12/telemetry'), 'press-12')
  assert.equal(deviceOfTopic('devices/AA:BB:CC:01/a/b/c'), 'AA:BB:CC:01')
  assert.equal(deviceOfTopic('devices/press-12'), null, 'no stream')
  assert.equal(deviceOfTopic('devices/press-12/'), null, 'empty stream')
  assert.equal(deviceOfTopic('devices//telemetry'), null)
  assert.equal(deviceOfTopic('devices/-lead/telemetry'), null, 'ids start alphanumeric')
  assert.equal(deviceOfTopic(`devices/${'a'.repeat(129)}/t`), null, 'at most 128 characters')
  assert.equal(deviceOfTopic('plant/press-12/telemetry'), null)
})

test('one device-id rule for topics, the CLI and the config: what one accepts the others accept', () => {
  for (const id of ['a', 'press-12', 'AA:BB:CC:01', 'x.y_z', 'a'.repeat(128)]) {
    assert.ok(isValidDeviceId(id), id)
    assert.doesNotThrow(() => loadConfig({ env: {}, document: { devices: { [id]: {} } } }), id)
  }
  for (const id of ['', '-a', 'a b', 'a/b', 'a+', 'a#', 'a'.repeat(129), 'é']) {
    assert.ok(!isValidDeviceId(id), id)
    assert.ok(!DEVICE_ID.test(id))
    assert.throws(() => loadConfig({ env: {}, document: { devices: { [id]: {} } } }), id)
  }
})

test('event time: the scan of flat JSON gives what parsing the whole document gives, for any text', () => {
  const parsed = (p: Buffer): number | null => {
    const doc = documentOf(p)
    return doc === null ? null : eventMsOfDocument(doc)
  }
  const texts = [
    '{"ts":1700000000000,"t":21.5}',
    ' {"time":"2024-01-01T00:00:00Z"}',
    '{"ts":1,"ts":true,"time":5}',
    '{}',
    '{"a":{"ts":1}}',
    '{"ts":1e3}',
    '{"ts":-0}',
    '{"ts":01}',
    '{"ts":1.}',
    '{"ts":"x\\u0031"}',
    '{"ts": 17e11 , "x":null}  ',
    '{"ts":1}x',
    '\x01{"ts":1}',
    '{"ts":1,}',
    '{"timestamp":1.5e9,"eventTime":"bad"}',
    '{"é":"ü","eventTime":"2020-05-05"}',
    '{"ts":"\n"}',
    '{"ts":[1]}',
    '{"ts":false}',
    '{"ts":1E+2}',
    '{"ts":1',
    '\t\r\n{"time":"Mon, 01 Jan 2024 00:00:00 GMT"}\n'
  ]
  assert.equal(eventTimeOf(Buffer.from(texts[0]!)), 1700000000000)
  assert.equal(eventTimeOf(Buffer.from(texts[2]!)), 5000, 'the last of duplicate keys, as JSON.parse')
  assert.equal(eventTimeOf(Buffer.from(texts[3]!)), null)
  // Seeded mutations (insert, delete, replace characters; now and then a random byte) of those texts.
  const alphabet = '{}":,0123456789.eE+-tsimeflaru n\\x\t\x01é'
  let seed = 7
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed / 0x7fffffff
  }
  const pick = <T>(xs: ArrayLike<T>): T => xs[Math.floor(rnd() * xs.length)]!
  let differing = 0
  for (let k = 0; k < 100_000; k++) {
    let s = pick(texts)
    for (let j = 1 + Math.floor(rnd() * 3); j > 0; j--) {
      const at = Math.floor(rnd() * (s.length + 1))
      const op = rnd()
      const ch = pick(alphabet)
      s = s.slice(0, at) + (op < 0.7 ? ch : '') + s.slice(op < 0.4 ? at : at + 1)
    }
    const b = Buffer.from(s)
    if (rnd() < 0.05 && b.length > 3) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256)
    if (!Object.is(eventTimeOf(b), parsed(b))) differing++
  }
  assert.equal(differing, 0)
})
