/**
 * patches/mqtt-packet+9.0.2.patch consumes a packet's fixed header (first byte and remaining length) in
 * one step: packets must come out the same however the bytes arrive, one at a time or split anywhere,
 * including inside a multi-byte remaining length. The same patch runs the parser's states through a
 * switch: every split below walks each state's entry and exit. And it refuses MQTT 5 properties cut
 * short (a value announcing more bytes than the properties hold) instead of passing on null values.
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

/** An MQTT 5 QoS 0 PUBLISH to `t` with a raw properties block and payload `x`; `propsLength` overrides its length. */
function publish5(props: number[], propsLength = props.length, payload = 'x'): Buffer {
  const body = Buffer.concat([Buffer.from([0, 1, 0x74, propsLength]), Buffer.from(props), Buffer.from(payload)])
  return Buffer.concat([Buffer.from([0x30, body.length]), body])
}

function parse5(b: Buffer): unknown[] {
  const parser = mqtt.parser({ protocolVersion: 5 })
  const out: unknown[] = []
  parser.on('packet', p => out.push({ ...p }))
  parser.on('error', e => out.push({ error: e.message }))
  parser.parse(b)
  return out
}

test('MQTT 5 properties cut short or past their end are an error, not a packet with null or borrowed values', () => {
  const malformed = [
    [0x08, 0x00, 0x10, 0x61], // Response Topic: 16 bytes announced, 1 there
    [0x03, 0x00, 0x10], // Content Type
    [0x09, 0x00, 0x10], // Correlation Data
    [0x26, 0x00, 0x01, 0x61, 0x00, 0x09], // User Property's value
    [0x02, 0x00, 0x01], // Message Expiry Interval: 4 bytes, 2 there (the payload's would follow)
    [0x01] // Payload Format Indicator without its byte
  ]
  for (const props of malformed) {
    const out = parse5(publish5(props, props.length, '{"payload":"long enough to borrow from"}'))
    assert.deepEqual(out, [{ error: 'Malformed property' }], JSON.stringify(props))
    assert.deepEqual(
      parse5(publish5(props)),
      [{ error: 'Malformed property' }],
      `${JSON.stringify(props)}, short payload`
    )
  }
  assert.deepEqual(parse5(publish5([0x01, 0x01], 200)), [{ error: 'Properties longer than the packet' }])
})

test('whole MQTT 5 properties of every kind still parse, the last one ending the block', () => {
  const packet = {
    cmd: 'publish' as const,
    topic: 'a/b',
    payload: Buffer.from('hi'),
    qos: 1 as const,
    messageId: 5,
    retain: false,
    dup: false,
    properties: {
      payloadFormatIndicator: true,
      messageExpiryInterval: 4321,
      topicAlias: 3,
      responseTopic: 'r/t',
      correlationData: Buffer.from([1, 2]),
      userProperties: { a: '', b: ['1', '2'] },
      subscriptionIdentifier: 7,
      contentType: 'application/json'
    }
  }
  const [p] = parse5(mqtt.generate(packet, { protocolVersion: 5 })) as Array<{ properties: unknown; payload: Buffer }>
  const { userProperties, ...rest } = p!.properties as typeof packet.properties
  const { userProperties: sentUser, ...sentRest } = packet.properties
  assert.deepEqual(rest, sentRest)
  assert.deepEqual({ ...userProperties }, sentUser)
  assert.equal(p!.payload.toString(), 'hi')
})
