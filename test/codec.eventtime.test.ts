import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Encoder, Tag } from 'cbor-x'
import { eventTimeOf } from '../src/codec/reading.js'
import { eventMsOfValue, SECONDS_BELOW } from '../src/codec/time.js'
import { parsePayload } from '../src/aggregate/payload.js'

// One event-time rule (README "Batch format" → Event time) for the reading's event time and for the
// aggregator's windows: ms from 1e11 up, seconds below, ISO-8601 strings, CBOR dates; JSON and CBOR alike.

const cbor = new Encoder({ useRecords: false, tagUint8Array: false })

test('numbers: epoch ms from 1e11 up, epoch seconds below, rounded; zero, negative and non-finite give none', () => {
  assert.equal(eventMsOfValue(1_760_000_000_123), 1_760_000_000_123)
  assert.equal(eventMsOfValue(1_760_000_000), 1_760_000_000_000)
  assert.equal(eventMsOfValue(1_760_000_000.5), 1_760_000_000_500)
  assert.equal(eventMsOfValue(SECONDS_BELOW), SECONDS_BELOW)
  assert.equal(eventMsOfValue(SECONDS_BELOW - 1), (SECONDS_BELOW - 1) * 1000)
  assert.equal(eventMsOfValue(1_760_000_000_123.6), 1_760_000_000_124)
  for (const v of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, null, true, {}, 'not a date'])
    assert.equal(eventMsOfValue(v), null)
  assert.equal(eventMsOfValue('2025-10-09T08:53:20.123Z'), 1_760_000_000_123)
  assert.equal(eventMsOfValue(new Date(1_760_000_000_123)), 1_760_000_000_123)
})

test('JSON and CBOR payloads get the same event time, from the first time field that gives one', () => {
  const json = (o: unknown): Buffer => Buffer.from(JSON.stringify(o))
  assert.equal(eventTimeOf(json({ ts: 1_760_000_000, v: 1 })), 1_760_000_000_000)
  assert.equal(eventTimeOf(json({ time: 'bad', timestamp: 1_760_000_000_001 })), 1_760_000_000_001)
  assert.equal(eventTimeOf(Buffer.from(`  {"eventTime":"2025-10-09T08:53:20.123Z"}`)), 1_760_000_000_123)
  assert.equal(eventTimeOf(Buffer.from(cbor.encode({ ts: 1_760_000_000_002, v: 1 }))), 1_760_000_000_002)
  assert.equal(eventTimeOf(Buffer.from(cbor.encode({ time: 1_760_000_000 }))), 1_760_000_000_000)
  // CBOR dates: tag 1 (epoch seconds) and tag 0 (a date/time string).
  assert.equal(eventTimeOf(Buffer.from(cbor.encode({ ts: new Tag(1_760_000_000.25, 1) }))), 1_760_000_000_250)
  assert.equal(eventTimeOf(Buffer.from(cbor.encode({ ts: new Tag('2025-10-09T08:53:20Z', 0) }))), 1_760_000_000_000)
  for (const p of [
    Buffer.from('[1,2]'),
    Buffer.from('1760000000000'),
    Buffer.from(cbor.encode([1])),
    Buffer.from([0xff])
  ])
    assert.equal(eventTimeOf(p), null)
  // The aggregator reads the same time from the same payloads.
  for (const p of [
    json({ ts: 1_760_000_000, t: 1 }),
    Buffer.from(cbor.encode({ ts: new Tag(1_760_000_000, 1), t: 1 }))
  ])
    assert.equal(parsePayload(p, null)?.eventMs, eventTimeOf(p))
})
