import { test } from 'node:test'
import assert from 'node:assert/strict'
import { gzipSync } from 'node:zlib'
import { Encoder } from 'cbor-x'
import {
  encodeBatch,
  decodeBatch,
  encodeBody,
  eventIdOf,
  frameStream,
  splitStream,
  FORMAT_VERSION,
  CONTENT_TYPE,
  KAFKA_COMPRESSION,
  CODEC_NONE,
  CODEC_ZLIB,
  type BatchMessage
} from '../src/codec/batch.js'
import { eventTimeOf } from '../src/codec/reading.js'
import { isHoldfastError } from '../src/errors.js'
import type { StoredReading } from '../src/store/reading.js'
import { SensorModel, seeded } from '../device-sim/telemetry.js'

const GW = 'plant-7-gw1'
const T0 = 1_760_000_000_000

function reading(seq: number, payload: Buffer | string, over: Partial<StoredReading> = {}): StoredReading {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload
  return {
    seq,
    device: 'press-12',
    topic: 'devices/press-12/telemetry',
    payload: p,
    recvMs: T0 + seq,
    eventMs: eventTimeOf(p),
    qos: 1,
    ...over
  }
}

/** Encode, decode (with and without headers), and check every field of every reading. */
function roundTrip(readings: StoredReading[], opts: { compress?: boolean } = {}): BatchMessage {
  const device = readings[0]!.device
  const m = encodeBatch(GW, device, readings, opts)
  for (const got of [decodeBatch(m.value), decodeBatch(m.value, m.headers)]) {
    assert.equal(got.length, readings.length)
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i]!
      const g = got[i]!
      assert.ok(
        g.payload.equals(r.payload),
        `payload ${i}: ${JSON.stringify(r.payload.toString('latin1'))} came back as ${JSON.stringify(g.payload.toString('latin1'))}`
      )
      assert.deepEqual(
        { ...g, payload: null },
        {
          eventId: `${GW}:${r.seq}`,
          gatewayId: GW,
          seq: r.seq,
          device,
          topic: r.topic,
          payload: null,
          recvMs: r.recvMs,
          eventMs: r.eventMs,
          qos: r.qos
        }
      )
    }
  }
  return m
}

function expectDecodeError(fn: () => unknown, what: string): void {
  assert.throws(fn, (err: unknown) => isHoldfastError(err, 'HF_ERR_DECODE'), what)
}

/** Simulated fleet as the buffer holds it: seq assigned in arrival order across devices. */
function telemetry(devices: number, seconds: number): Map<string, StoredReading[]> {
  const rnd = seeded(3)
  const sent: Array<{ device: string; payload: Buffer; at: number }> = []
  for (let d = 0; d < devices; d++) {
    const device = `dev-${d}`
    const model = new SensorModel(seeded(100 + d))
    const phase = rnd() * 1000
    for (let k = 0; k < seconds; k++) {
      const at = T0 + phase + k * 1000 + rnd() * 2
      sent.push({ device, payload: model.next(Math.round(at)), at: at + 1 + rnd() * 5 })
    }
  }
  sent.sort((a, b) => a.at - b.at)
  const out = new Map<string, StoredReading[]>()
  let seq = 1_000_000
  for (const s of sent) {
    if (!out.has(s.device)) out.set(s.device, [])
    out.get(s.device)!.push({
      seq: seq++,
      device: s.device,
      topic: `devices/${s.device}/telemetry`,
      payload: s.payload,
      recvMs: Math.floor(s.at),
      eventMs: eventTimeOf(s.payload),
      qos: 1
    })
  }
  return out
}

test('telemetry JSON round-trips exactly, compressed in the value or not', () => {
  const list = telemetry(1, 1000).get('dev-0')!
  roundTrip(list)
  roundTrip(list, { compress: true })
  roundTrip(list.slice(0, 1))
})

test('payloads that are not canonical JSON come back byte for byte', () => {
  const texts = [
    '{"a": 1}',
    '{ "a":1 }',
    '{"a":1.50}',
    '{"a":1e3}',
    '{"a":1E3}',
    '{"a":-0}',
    '{"a":0.0}',
    '{"a":01}',
    '{"a":1,"a":2}',
    '{"b":1,"1":2}',
    '{"1":2,"b":1}',
    '{"a":"\\u00e9"}',
    '{"a":"\\ud800"}',
    '{"a":"\\/"}',
    '{"a":0.30000000000000004}',
    '{"a":0.3000000000000000444}',
    '{"a":1e-7}',
    '{"a":0.0000001}',
    '{"a":123456789012345678}',
    '{"a":[1,2]}',
    '{"a":{"b":1}}',
    '{}',
    '{"a":1}\n',
    '\ufeff{"a":1}',
    '{"a":1}}',
    '{"a":1,}',
    '[1,2]',
    '"text"',
    '42',
    'null',
    '{"__proto__":1,"constructor":2}',
    '{"x":true,"y":false,"z":null}',
    '{"a":"tab\\there","b":"quote\\"","c":"back\\\\slash"}'
  ]
  roundTrip(texts.map((t, i) => reading(i + 1, t)))
  // The same texts interleaved with canonical telemetry, so shapes and raw payloads mix in one batch.
  const model = new SensorModel(seeded(9))
  roundTrip(texts.flatMap((t, i) => [reading(2 * i + 1, t), reading(2 * i + 2, model.next(T0 + i))]))
})

test('binary, empty, invalid UTF-8 and unicode payloads', () => {
  roundTrip([
    reading(1, Buffer.from([0, 1, 2, 255, 254, 0x7b, 0x7d])),
    reading(2, Buffer.alloc(0)),
    reading(3, Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x22, 0x7d])), // {"a":"<bad UTF-8>"}
    reading(4, Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d])), // encoded lone surrogate
    reading(5, '{"name":"Zürich ☃ 😀","temp":-3.5}'),
    reading(6, '{"name":"Zürich ☃ 😀","temp":-3.25}'),
    reading(7, 'plain text, ünïcödé'),
    reading(8, '{"\u2028":"\u2029","k":"\u007f"}'),
    reading(9, Buffer.alloc(70_000, 0xab))
  ])
})

test('random flat JSON texts, canonical or not, round-trip exactly (fast path agrees with JSON.parse/stringify)', () => {
  const rnd = seeded(11)
  const digits = (n: number, first: boolean): string => {
    let s = first ? String(1 + Math.floor(rnd() * 9)) : ''
    while (s.length < n) s += String(Math.floor(rnd() * 10))
    return s
  }
  const number = (): string => {
    const sign = rnd() < 0.3 ? '-' : ''
    const int = rnd() < 0.3 ? '0' : rnd() < 0.05 ? '0' + digits(2, false) : digits(1 + Math.floor(rnd() * 17), true)
    const frac =
      rnd() < 0.4
        ? ''
        : '.' + (rnd() < 0.2 ? '0'.repeat(Math.floor(rnd() * 9)) : '') + digits(Math.floor(rnd() * 18), false)
    const exp = rnd() < 0.05 ? 'e' + String(Math.floor(rnd() * 30 - 15)) : ''
    return sign + int + frac + exp
  }
  const value = (): string => {
    const r = rnd()
    if (r < 0.75) return number()
    if (r < 0.9) return JSON.stringify(['ok', 'é', '', 'a"b', 'x\\y', '\n', '😀', 'NaN'][Math.floor(rnd() * 8)])
    return ['true', 'false', 'null'][Math.floor(rnd() * 3)]!
  }
  let canonical = 0
  for (let b = 0; b < 40; b++) {
    const list: StoredReading[] = []
    for (let i = 0; i < 250; i++) {
      const keys = ['ts', 'temp', 'k' + String(i % 3)].slice(0, 1 + Math.floor(rnd() * 3))
      const text = '{' + keys.map(k => `"${k}":${value()}`).join(',') + '}'
      try {
        if (JSON.stringify(JSON.parse(text)) === text) canonical++
      } catch {}
      list.push(reading(b * 1000 + i + 1, text, { eventMs: null }))
    }
    roundTrip(list)
  }
  assert.ok(canonical > 2000, `enough canonical texts to exercise transcoding (${canonical})`)
})

test('topics, qos, event times: many topics, nulls, far-off clocks, 53-bit numbers', () => {
  const list: StoredReading[] = []
  for (let i = 0; i < 300; i++) {
    list.push(
      reading(2 ** 40 + i * 7, `{"i":${i}}`, {
        topic: `devices/press-12/stream-${i % 60}/x`,
        qos: i % 3,
        recvMs: T0 + i * 3,
        eventMs:
          i % 4 === 0 ? null : i % 4 === 1 ? 1 : i % 4 === 2 ? T0 + i * 3 - 40_000_000_000 : Number.MAX_SAFE_INTEGER - i
      })
    )
  }
  list.push(reading(Number.MAX_SAFE_INTEGER, 'last', { recvMs: Number.MAX_SAFE_INTEGER, eventMs: -5 }))
  roundTrip(list)
  roundTrip(list, { compress: true })
})

test('headers carry content type, format, gateway, device, count, first and last seq, compression', () => {
  const list = [reading(41, '{"n":1}'), reading(45, '{"n":2}'), reading(99, '{"n":3}')]
  const m = roundTrip(list)
  assert.equal(m.key, 'press-12')
  assert.deepEqual(m.headers, {
    'hf-content-type': CONTENT_TYPE,
    'hf-format': String(FORMAT_VERSION),
    'hf-gateway': GW,
    'hf-device': 'press-12',
    'hf-count': '3',
    'hf-first-seq': '41',
    'hf-last-seq': '99',
    'hf-compression': 'none'
  })
  assert.equal(m.value[3], CODEC_NONE)
  const z = encodeBatch(
    GW,
    'press-12',
    telemetry(1, 200)
      .get('dev-0')!
      .map(r => ({ ...r, device: 'press-12' })),
    { compress: true }
  )
  assert.equal(z.headers['hf-compression'], 'zlib')
  assert.equal(z.value[3], CODEC_ZLIB)
  assert.deepEqual([...m.value.subarray(0, 3)], [0x48, 0x46, FORMAT_VERSION])

  // Headers as kafkajs hands them to a consumer: Buffers.
  const asBuffers = Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, Buffer.from(v)]))
  assert.equal(decodeBatch(m.value, asBuffers).length, 3)
  // A header that disagrees with the body means a mix-up or damage: refuse it.
  for (const [k, v] of [
    ['hf-count', '4'],
    ['hf-first-seq', '40'],
    ['hf-last-seq', '98'],
    ['hf-gateway', 'other'],
    ['hf-device', 'x'],
    ['hf-format', '2'],
    ['hf-content-type', 'application/json'],
    ['hf-compression', 'zlib']
  ] as const) {
    expectDecodeError(() => decodeBatch(m.value, { ...m.headers, [k]: v }), `${k}=${v}`)
  }
  KAFKA_COMPRESSION satisfies 'none' | 'gzip'
  assert.equal(KAFKA_COMPRESSION, 'gzip')
})

test('event ids are gateway:seq, unique, and the same when a batch is sent again', () => {
  assert.equal(eventIdOf('gw-1', 42), 'gw-1:42')
  const list = telemetry(1, 50).get('dev-0')!
  const a = decodeBatch(encodeBatch(GW, 'dev-0', list).value)
  const b = decodeBatch(encodeBatch(GW, 'dev-0', list.slice(10, 30)).value) // a re-send, batched differently
  assert.equal(new Set(a.map(r => r.eventId)).size, list.length)
  assert.deepEqual(
    b.map(r => r.eventId),
    a.slice(10, 30).map(r => r.eventId)
  )
  const other = decodeBatch(encodeBatch('plant-7-gw2', 'dev-0', list).value)
  assert.ok(
    other.every((r, i) => r.eventId !== a[i]!.eventId),
    'another gateway, other ids'
  )
})

test('deterministic: the same readings give the same bytes', () => {
  const list = telemetry(1, 300).get('dev-0')!
  for (const compress of [false, true]) {
    const a = encodeBatch(GW, 'dev-0', list, { compress })
    const b = encodeBatch(
      GW,
      'dev-0',
      list.map(r => ({ ...r, payload: Buffer.from(r.payload) })),
      { compress }
    )
    assert.ok(a.value.equals(b.value))
    assert.deepEqual(a.headers, b.headers)
  }
})

test('truncated, corrupted or foreign input throws HF_ERR_DECODE and nothing else', () => {
  const plain = encodeBatch(GW, 'press-12', [
    reading(1, '{"t":21.5,"ok":true}'),
    reading(2, Buffer.from([1, 2, 3])),
    reading(3, '{"t":21.75,"ok":false}')
  ])
  const zipped = encodeBatch(
    GW,
    'press-12',
    telemetry(1, 100)
      .get('dev-0')!
      .map(r => ({ ...r, device: 'press-12' })),
    { compress: true }
  )
  for (const m of [plain, zipped]) {
    for (let len = 0; len < m.value.length; len++)
      expectDecodeError(() => decodeBatch(m.value.subarray(0, len)), `truncated to ${len} bytes`)
  }
  // zlib's Adler-32 catches any damage to a compressed value's data (a flip in the unused padding
  // bits of the last deflate byte changes nothing and decodes to the same readings).
  const original = decodeBatch(zipped.value)
  for (let i = 4; i < zipped.value.length; i++) {
    const bad = Buffer.from(zipped.value)
    bad[i]! ^= 0x10
    try {
      assert.deepEqual(decodeBatch(bad), original, `compressed value, byte ${i} flipped: decoded to something else`)
    } catch (err) {
      assert.ok(isHoldfastError(err, 'HF_ERR_DECODE'), `compressed value, byte ${i} flipped: ${String(err)}`)
    }
  }
  // Uncompressed, a flipped payload byte can decode (Kafka's CRC32C guards transport), but the
  // decoder must never fail any other way than with HF_ERR_DECODE.
  let caught = 0
  for (let i = 0; i < plain.value.length; i++) {
    for (const mask of [0x01, 0x80, 0xff]) {
      const bad = Buffer.from(plain.value)
      bad[i]! ^= mask
      try {
        decodeBatch(bad)
      } catch (err) {
        assert.ok(isHoldfastError(err, 'HF_ERR_DECODE'), `byte ${i} ^ ${mask}: ${String(err)}`)
        caught++
      }
    }
  }
  assert.ok(caught > plain.value.length, 'most damage is detected')
  expectDecodeError(() => decodeBatch(Buffer.from('{"not":"a batch"}')), 'JSON')
  expectDecodeError(() => decodeBatch(Buffer.from([0x48, 0x46, 9, 0, 0x80])), 'future version')
  expectDecodeError(() => decodeBatch(Buffer.from([0x48, 0x46, 1, 7, 0x80])), 'unknown codec')
  const cbor = new Encoder({ useRecords: false })
  const wrap = (body: unknown): Buffer =>
    Buffer.concat([Buffer.from([0x48, 0x46, 1, 0]), Buffer.from(cbor.encode(body))])
  const good = (): unknown[] => [GW, 'd', [1], [T0], [null], ['t'], [0], [1], [0], [Buffer.from('x')], []]
  expectDecodeError(() => decodeBatch(wrap({ a: 1 })), 'a map')
  expectDecodeError(() => decodeBatch(wrap([...good(), 'extra'])), 'extra field')
  assert.equal(decodeBatch(wrap(good()))[0]!.payload.toString(), 'x')
  const variants: Array<[number, unknown]> = [
    [2, []],
    [2, [1.5]],
    [2, [2 ** 60]],
    [3, [T0, 1]],
    [5, [1]],
    [6, [1]],
    [7, [3]],
    [8, [1]],
    [9, []],
    [9, [Buffer.from('x'), Buffer.from('y')]],
    [10, [[['a'], [[0, [1, 2]]]]]],
    [10, [[[], []]]],
    [10, [[['a'], [[5, [1]]]]]],
    [10, [[['a'], [[1, 99, [1]]]]]],
    [10, [[['a'], [[0, [{}]]]]]]
  ]
  for (const [at, v] of variants) {
    const body = good()
    body[at] = v
    expectDecodeError(() => decodeBatch(wrap(body)), `body[${at}] = ${JSON.stringify(v)}`)
  }
  expectDecodeError(() => splitStream(Buffer.from([0, 0, 0, 9, 1, 2])), 'stream value truncated')
  expectDecodeError(() => splitStream(Buffer.from([0, 0])), 'stream length truncated')
})

test('encoder refuses readings outside its contract', () => {
  assert.throws(() => encodeBatch(GW, 'press-12', []), RangeError)
  assert.throws(() => encodeBatch(GW, 'press-12', [reading(2, 'a'), reading(1, 'b')]), RangeError)
  assert.throws(() => encodeBatch(GW, 'press-12', [reading(1, 'a'), reading(1, 'b')]), RangeError)
  assert.throws(() => encodeBatch(GW, 'press-12', [reading(1, 'a', { device: 'other' })]), RangeError)
  assert.throws(() => encodeBatch(GW, 'press-12', [reading(1, 'a', { qos: 3 })]), RangeError)
})

test('file framing: one raw value, or length-prefixed values', () => {
  const a = encodeBatch(GW, 'press-12', [reading(1, 'a')]).value
  const b = encodeBatch(GW, 'press-12', [reading(2, 'b')], { compress: true }).value
  assert.deepEqual(splitStream(a), [a])
  assert.deepEqual(splitStream(frameStream([a, b, a])), [a, b, a])
  assert.deepEqual(splitStream(Buffer.alloc(0)), [])
})

test('uplink bytes per reading ≤ 15% of the raw JSON on simulated telemetry (a property of the format)', () => {
  const fleet = telemetry(10, 1000)
  let raw = 0
  let inValue = 0
  let kafkaGzip = 0
  let plainValue = 0
  for (const [device, list] of fleet) {
    raw += list.reduce((n, r) => n + r.payload.length, 0)
    // As the producer sends it: Kafka-level GZIP over key, headers and value, one message alone
    // in its record batch (the worst case; several messages per request compress better).
    const m = encodeBatch(GW, device, list)
    const meta = Buffer.from(
      m.key +
        Object.entries(m.headers)
          .map(([k, v]) => k + v)
          .join('')
    )
    kafkaGzip += gzipSync(Buffer.concat([meta, m.value])).length
    plainValue += m.value.length
    // The same batch compressed inside the value (other transports), headers uncompressed.
    const z = encodeBatch(GW, device, list, { compress: true })
    inValue += z.value.length + meta.length
  }
  assert.ok(kafkaGzip / raw <= 0.15, `Kafka-level gzip: ${((kafkaGzip / raw) * 100).toFixed(1)}% of raw JSON`)
  assert.ok(inValue / raw <= 0.15, `zlib in the value: ${((inValue / raw) * 100).toFixed(1)}% of raw JSON`)
  // The columnar body alone (before any compression) is already well under the raw JSON.
  assert.ok(plainValue / raw <= 0.35, `uncompressed body: ${((plainValue / raw) * 100).toFixed(1)}% of raw JSON`)
  // And transposing the JSON into columns is what makes the difference.
  const list = fleet.get('dev-0')!
  const rawBody = gzipSync(encodeBody(GW, 'dev-0', list, false)).length
  const shapedBody = gzipSync(encodeBody(GW, 'dev-0', list, true)).length
  assert.ok(shapedBody < rawBody / 2, `columns ${shapedBody} B vs raw payloads ${rawBody} B`)
})
