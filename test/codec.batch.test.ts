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
  decodeMessage,
  KAFKA_COMPRESSION,
  CODEC_NONE,
  CODEC_ZLIB,
  type BatchMessage
} from '../src/codec/batch.js'
import { decimalText } from '../src/codec/shapes.js'
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
  const m = encodeBatch(GW, readings, opts)
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
          qos: r.qos,
          kind: 'raw',
          lane: 'backlog',
          cls: ''
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

test('headers: hf-format and hf-kind, both checked against the body; key = gateway unless asked', () => {
  const list = [reading(41, '{"n":1}'), reading(45, '{"n":2}'), reading(99, '{"n":3}')]
  const m = roundTrip(list)
  assert.equal(m.key, GW)
  assert.deepEqual(m.headers, { 'hf-format': String(FORMAT_VERSION), 'hf-kind': 'raw' })
  assert.equal(m.value[3], CODEC_NONE)
  assert.deepEqual([...m.value.subarray(0, 3)], [0x48, 0x46, 2])
  const r = encodeBatch(GW, list, { kind: 'rollup', lane: 'live', cls: 'alarm', key: 'press-12' })
  assert.equal(r.key, 'press-12')
  assert.equal(r.headers['hf-kind'], 'rollup')
  const got = decodeMessage(r.value, r.headers)
  assert.equal(got.type, 'rollup')
  assert.deepEqual(
    got.readings.map(x => [x.kind, x.lane, x.cls]),
    list.map(() => ['rollup', 'live', 'alarm'])
  )
  const z = encodeBatch(GW, telemetry(1, 200).get('dev-0')!, { compress: true })
  assert.equal(z.value[3], CODEC_ZLIB)
  // Headers as kafkajs hands them to a consumer: Buffers.
  const asBuffers = Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, Buffer.from(v)]))
  assert.equal(decodeBatch(m.value, asBuffers).length, 3)
  // A header that disagrees with the body means a mix-up or damage: refuse it.
  for (const [k, v] of [
    ['hf-format', '1'],
    ['hf-kind', 'rollup'],
    ['hf-kind', 'control']
  ] as const) {
    expectDecodeError(() => decodeBatch(m.value, { ...m.headers, [k]: v }), `${k}=${v}`)
  }
  KAFKA_COMPRESSION satisfies 'none' | 'gzip'
  assert.equal(KAFKA_COMPRESSION, 'gzip')
})

test('several devices in one batch: grouped by device in the body, each in seq order, topics rebuilt', () => {
  const fleet = telemetry(5, 20)
  const all = [...fleet.values()].flat().sort((a, b) => a.seq - b.seq)
  all.push(reading(5_000_000, '{"x":1}', { device: 'odd', topic: 'devices/other/x' }))
  const m = encodeBatch(GW, all)
  const got = decodeBatch(m.value, m.headers)
  assert.equal(got.length, all.length)
  const bySeq = new Map(all.map(r => [r.seq, r]))
  for (const g of got) {
    const r = bySeq.get(g.seq)!
    assert.equal(g.device, r.device)
    assert.equal(g.topic, r.topic)
    assert.ok(g.payload.equals(r.payload))
  }
  const devicesInOrder = got.map(g => g.device).filter((d, i, a) => i === 0 || a[i - 1] !== d)
  assert.equal(new Set(devicesInOrder).size, devicesInOrder.length, 'one run per device')
  assert.throws(
    () => encodeBatch(GW, [reading(2, 'a'), reading(3, 'b', { device: 'x', topic: 'devices/x/t' }), reading(1, 'c')]),
    RangeError
  )
})

test('version 2 numbers need no number formatter: the decimal rule rebuilds every shaped payload', () => {
  assert.equal(decimalText(2150, 2), '21.5')
  assert.equal(decimalText(5, 3), '0.005')
  assert.equal(decimalText(-120, 1), '-12')
  assert.equal(decimalText(0, 4), '0')
  assert.equal(decimalText(-7, 7), '-0.0000007')
  // Values JSON.stringify writes in exponent form, or with 16-17 digits, stay raw payloads.
  const texts = ['{"a":1e-7}', '{"a":0.30000000000000004}', '{"a":1e+21}', '{"a":0.1,"b":123456789012.25}']
  for (const t of texts) {
    const m = encodeBatch(GW, [reading(1, t)])
    assert.equal(decodeBatch(m.value)[0]!.payload.toString(), t)
  }
})

test('event ids are gateway:seq, unique, and the same when a batch is sent again', () => {
  assert.equal(eventIdOf('gw-1', 42), 'gw-1:42')
  const list = telemetry(1, 50).get('dev-0')!
  const a = decodeBatch(encodeBatch(GW, list).value)
  const b = decodeBatch(encodeBatch(GW, list.slice(10, 30)).value) // a re-send, batched differently
  assert.equal(new Set(a.map(r => r.eventId)).size, list.length)
  assert.deepEqual(
    b.map(r => r.eventId),
    a.slice(10, 30).map(r => r.eventId)
  )
  const other = decodeBatch(encodeBatch('plant-7-gw2', list).value)
  assert.ok(
    other.every((r, i) => r.eventId !== a[i]!.eventId),
    'another gateway, other ids'
  )
})

test('deterministic: the same readings give the same bytes', () => {
  const list = telemetry(1, 300).get('dev-0')!
  for (const compress of [false, true]) {
    const a = encodeBatch(GW, list, { compress })
    const b = encodeBatch(
      GW,
      list.map(r => ({ ...r, payload: Buffer.from(r.payload) })),
      { compress }
    )
    assert.ok(a.value.equals(b.value))
    assert.deepEqual(a.headers, b.headers)
  }
})

test('truncated, corrupted or foreign input throws HF_ERR_DECODE and nothing else', () => {
  const plain = encodeBatch(GW, [
    reading(1, '{"t":21.5,"ok":true}'),
    reading(2, Buffer.from([1, 2, 3])),
    reading(3, '{"t":21.75,"ok":false}')
  ])
  const zipped = encodeBatch(
    GW,
    telemetry(1, 100)
      .get('dev-0')!
      .map(r => ({ ...r, device: 'press-12' })),
    { compress: true }
  )
  for (const m of [plain, zipped]) {
    for (let len = 0; len < m.value.length; len++)
      expectDecodeError(() => decodeBatch(m.value.subarray(0, len)), `truncated to ${len} bytes`)
  }
  // zlib's Adler-32 catches nearly all damage to a compressed value's data (it is a weak sum: a flip
  // that shifts three output bytes by -1, +2, -1 can slip through; Kafka's CRC32C guards transport).
  let detected = 0
  for (let i = 4; i < zipped.value.length; i++) {
    const bad = Buffer.from(zipped.value)
    bad[i]! ^= 0x10
    try {
      decodeBatch(bad)
    } catch (err) {
      assert.ok(isHoldfastError(err, 'HF_ERR_DECODE'), `compressed value, byte ${i} flipped: ${String(err)}`)
      detected++
    }
  }
  assert.ok(
    detected >= zipped.value.length - 8,
    `compressed damage detected: ${detected} of ${zipped.value.length - 4}`
  )
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
  assert.throws(() => encodeBatch(GW, []), RangeError)
  assert.throws(() => encodeBatch(GW, [reading(2, 'a'), reading(1, 'b')]), RangeError)
  assert.throws(() => encodeBatch(GW, [reading(1, 'a'), reading(1, 'b')]), RangeError)
  assert.throws(() => encodeBatch(GW, [reading(1, 'a', { qos: 3 })]), RangeError)
})

test('file framing: one raw value, or length-prefixed values', () => {
  const a = encodeBatch(GW, [reading(1, 'a')]).value
  const b = encodeBatch(GW, [reading(2, 'b')], { compress: true }).value
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
  for (const list of fleet.values()) {
    raw += list.reduce((n, r) => n + r.payload.length, 0)
    // As the producer sends it: Kafka-level GZIP over key, headers and value, one message alone
    // in its record batch (the worst case; several messages per request compress better).
    const m = encodeBatch(GW, list)
    const meta = Buffer.from(
      m.key +
        Object.entries(m.headers)
          .map(([k, v]) => k + v)
          .join('')
    )
    kafkaGzip += gzipSync(Buffer.concat([meta, m.value])).length
    plainValue += m.value.length
    // The same batch compressed inside the value (other transports), headers uncompressed.
    const z = encodeBatch(GW, list, { compress: true })
    inValue += z.value.length + meta.length
  }
  assert.ok(kafkaGzip / raw <= 0.15, `Kafka-level gzip: ${((kafkaGzip / raw) * 100).toFixed(1)}% of raw JSON`)
  assert.ok(inValue / raw <= 0.15, `zlib in the value: ${((inValue / raw) * 100).toFixed(1)}% of raw JSON`)
  // The columnar body alone (before any compression) is already well under the raw JSON.
  assert.ok(plainValue / raw <= 0.35, `uncompressed body: ${((plainValue / raw) * 100).toFixed(1)}% of raw JSON`)
  // And transposing the JSON into columns is what makes the difference.
  const list = fleet.get('dev-0')!
  const rawBody = gzipSync(encodeBody(GW, list, { transcode: false })).length
  const shapedBody = gzipSync(encodeBody(GW, list)).length
  assert.ok(shapedBody < rawBody / 2, `columns ${shapedBody} B vs raw payloads ${rawBody} B`)
})
