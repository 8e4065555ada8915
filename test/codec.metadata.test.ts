import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Encoder } from 'cbor-x'
import {
  decodeBatch,
  decodeMessage,
  encodeBatch,
  encodeBody,
  frame,
  FORMAT_VERSION,
  FORMAT_VERSION_METADATA
} from '../src/codec/batch.js'
import { packMetadata, unpackMetadata, USER_PROPERTY_PAIRS, userPropertyPairs } from '../src/codec/metadata.js'
import { isHoldfastError } from '../src/errors.js'
import type { StoredReading } from '../src/store/reading.js'

// MQTT 5 metadata in the batch format (README "Batch format", version 3): carried per reading, only in
// batches that have some; batches without any stay version 2 and older versions still decode.

const GW = 'plant-7-gw1'
const T0 = 1_760_000_000_000

const reading = (seq: number, device: string, over: Partial<StoredReading> = {}): StoredReading => ({
  seq,
  device,
  topic: `devices/${device}/telemetry`,
  payload: Buffer.from(`{"n":${seq}}`),
  recvMs: T0 + seq,
  eventMs: null,
  qos: 1,
  ...over
})

const decodeError = (fn: () => unknown, what: string): void => {
  assert.throws(fn, (err: unknown) => isHoldfastError(err, 'HF_ERR_DECODE'), what)
}

test('metadata round-trips per reading: repeated names in order, content type alone, properties alone, none', () => {
  const props: Array<[string, string]> = [
    ['site', 'plant-7'],
    ['line', '3'],
    ['site', 'annex'],
    ['', ''],
    ['größe', 'ü ☃ \u0000']
  ]
  const list = [
    reading(10, 'a', { props: packMetadata('application/json', props) }),
    reading(11, 'b'),
    reading(12, 'a'),
    reading(13, 'b', { props: packMetadata('text/plain; charset=utf-8', []) }),
    reading(14, 'a', { props: packMetadata(undefined, [['k', 'v']]) }),
    reading(15, 'b', { props: packMetadata('', []) })
  ]
  for (const compress of [false, true]) {
    const m = encodeBatch(GW, list, { compress })
    assert.equal(m.headers['hf-format'], String(FORMAT_VERSION_METADATA))
    assert.equal(m.value[2], 3, 'byte 2: version 3')
    const got = decodeMessage(m.value, m.headers)
    assert.equal(got.version, 3)
    const bySeq = new Map(got.readings.map(r => [r.seq, r]))
    assert.deepEqual(bySeq.get(10)!.metadata, { userProperties: props, contentType: 'application/json' })
    assert.equal(bySeq.get(11)!.metadata, undefined, 'a reading without metadata has none')
    assert.equal(bySeq.get(12)!.metadata, undefined)
    assert.deepEqual(bySeq.get(13)!.metadata, { contentType: 'text/plain; charset=utf-8' })
    assert.deepEqual(bySeq.get(14)!.metadata, { userProperties: [['k', 'v']] })
    assert.deepEqual(bySeq.get(15)!.metadata, { contentType: '' }, 'an empty Content Type is still one')
    for (const r of got.readings) assert.equal(r.payload.toString(), `{"n":${r.seq}}`)
  }
})

test('a batch without metadata stays version 2, byte for byte; a reading without any stores nothing', () => {
  assert.equal(packMetadata(undefined, []), null)
  assert.equal(packMetadata(42, []), null, 'a malformed Content Type is not one')
  const list = [reading(1, 'a'), reading(2, 'b', { props: null })]
  const m = encodeBatch(GW, list)
  assert.equal(m.headers['hf-format'], String(FORMAT_VERSION))
  assert.equal(m.value[2], 2)
  assert.ok(m.value.subarray(4).equals(encodeBody(GW, [reading(1, 'a'), reading(2, 'b')])))
  assert.ok(decodeBatch(m.value).every(r => !('metadata' in r)))
})

test('stored metadata damaged on disk does not stop the batch: its reading goes without it', () => {
  const list = [
    reading(1, 'a', { props: Buffer.from([0xff, 0x00]) }),
    reading(2, 'a', { props: packMetadata('x/y', []) })
  ]
  const got = decodeMessage(encodeBatch(GW, list).value)
  assert.equal(got.version, 3)
  assert.deepEqual(
    got.readings.map(r => r.metadata),
    [undefined, { contentType: 'x/y' }]
  )
  const alone = decodeMessage(encodeBatch(GW, [list[0]!]).value)
  assert.equal(alone.version, 3, 'an empty item 14')
  assert.equal(alone.readings[0]!.metadata, undefined)
})

test('mqtt-packet User Properties become ordered pairs: wire order from the patched parser, else grouped by name', () => {
  const up = Object.assign(Object.create(null) as object, { site: ['plant-7', 'annex'], line: '3' })
  assert.deepEqual(userPropertyPairs(up), [
    ['site', 'plant-7'],
    ['site', 'annex'],
    ['line', '3']
  ])
  assert.deepEqual(userPropertyPairs(undefined), [])
  // The patched parser's wire order, when there, wins over the object's grouping by name.
  Object.defineProperty(up, USER_PROPERTY_PAIRS, {
    value: [
      ['site', 'plant-7'],
      ['line', '3'],
      ['site', 'annex']
    ]
  })
  assert.deepEqual(userPropertyPairs(up), [
    ['site', 'plant-7'],
    ['line', '3'],
    ['site', 'annex']
  ])
  assert.deepEqual(Object.keys(up), ['site', 'line'], 'invisible to encoders and copies')
  const blob = packMetadata('application/cbor', userPropertyPairs(up))!
  assert.deepEqual(unpackMetadata(blob), {
    userProperties: [
      ['site', 'plant-7'],
      ['line', '3'],
      ['site', 'annex']
    ],
    contentType: 'application/cbor'
  })
})

/** A version 2/3 body built by hand from the README's table, as a consumer in another language reads it. */
function handBody(items: { metadata?: unknown; length?: number }): unknown[] {
  const body: unknown[] = [
    GW,
    0,
    1,
    'telemetry',
    ['a', 'b'],
    [
      [0, 'telemetry'],
      [1, 'telemetry']
    ],
    [0, 1, -1],
    [100, 1, 1],
    [T0, 5, 5],
    [null, null, null],
    [1, 1, 0],
    [0, 0, 0],
    [Buffer.from('x'), Buffer.from('y'), Buffer.from('z')],
    []
  ]
  if ('metadata' in items) body.push(items.metadata)
  return body
}
const cbor = new Encoder({ useRecords: false, tagUint8Array: false, pack: false })
const value = (body: unknown[], version: number): Buffer => frame(Buffer.from(cbor.encode(body)), false, version)

test('body item 14 as the README specifies it: [index, contentType, [name, value, …]] entries', () => {
  const got = decodeMessage(
    value(
      handBody({
        metadata: [
          [0, 'application/json', ['a', '1', 'b', '2', 'a', '3']],
          [2, null, ['only', 'props']]
        ]
      }),
      3
    ),
    { 'hf-format': '3', 'hf-kind': 'raw' }
  )
  assert.deepEqual(
    got.readings.map(r => [r.device, r.seq, r.payload.toString(), r.metadata]),
    [
      [
        'a',
        100,
        'x',
        {
          userProperties: [
            ['a', '1'],
            ['b', '2'],
            ['a', '3']
          ],
          contentType: 'application/json'
        }
      ],
      ['b', 101, 'y', undefined],
      ['a', 102, 'z', { userProperties: [['only', 'props']] }]
    ]
  )
  // An empty list is allowed (nothing carried); the gateway writes version 2 then.
  assert.ok(decodeBatch(value(handBody({ metadata: [] }), 3)).every(r => r.metadata === undefined))
})

test('malformed metadata, or a body of the wrong length for its version, is HF_ERR_DECODE', () => {
  const bad: Array<[string, unknown]> = [
    ['not an array', { a: 1 }],
    ['entry too short', [[0, null]]],
    ['index out of range', [[3, null, []]]],
    ['negative index', [[-1, null, []]]],
    [
      'indexes not ascending',
      [
        [1, null, ['a', 'b']],
        [0, null, ['a', 'b']]
      ]
    ],
    [
      'same index twice',
      [
        [0, null, ['a', 'b']],
        [0, null, ['a', 'b']]
      ]
    ],
    ['odd property list', [[0, null, ['a']]]],
    ['property not text', [[0, null, ['a', 1]]]],
    ['content type not text', [[0, 7, []]]]
  ]
  for (const [what, metadata] of bad) decodeError(() => decodeBatch(value(handBody({ metadata }), 3)), what)
  decodeError(() => decodeBatch(value(handBody({}), 3)), 'version 3 body of 14 items')
  decodeError(() => decodeBatch(value(handBody({ metadata: [] }), 2)), 'version 2 body of 15 items')
  decodeError(() => decodeBatch(value(handBody({}), 4)), 'unknown version 4')
  assert.equal(decodeBatch(value(handBody({}), 2)).length, 3, 'the same body as version 2 decodes')
})
