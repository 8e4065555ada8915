/**
 * Writes the version 2 and 3 golden vectors in test/vectors/ (run once after a deliberate format change:
 * `node dist/test/vectors/make-vectors.js`; the version 1 files were written by the version 1 encoder
 * and are frozen). Each `<name>.hf` is a value as Kafka carries it; `<name>.json` is what it decodes to.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodeBatch, encodeControl, decodeMessage, type BatchMessage } from '../../src/codec/batch.js'
import type { StoredReading } from '../../src/store/reading.js'
import { packMetadata } from '../../src/codec/metadata.js'
import { ROOT } from '../harness/gateway.js'

const DIR = join(ROOT, 'test/vectors')
const GW = 'plant-7-gw1'
const T0 = 1_760_000_000_000

const r = (
  seq: number,
  device: string,
  stream: string,
  payload: string | Buffer,
  over: Partial<StoredReading> = {}
) => ({
  seq,
  device,
  topic: `devices/${device}/${stream}`,
  payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
  recvMs: T0 + seq * 7,
  eventMs: null as number | null,
  qos: 1,
  ...over
})

/** The expected decoding, as a consumer in any language would write it down. */
export function expected(m: BatchMessage): unknown {
  const d = decodeMessage(m.value, m.headers)
  return {
    key: m.key,
    headers: m.headers,
    version: d.version,
    type: d.type,
    readings: d.readings.map(x => ({
      eventId: x.eventId,
      gatewayId: x.gatewayId,
      seq: x.seq,
      device: x.device,
      topic: x.topic,
      recvMs: x.recvMs,
      eventMs: x.eventMs,
      qos: x.qos,
      kind: x.kind,
      lane: x.lane,
      cls: x.cls,
      payloadBase64: x.payload.toString('base64'),
      payloadText: x.payload.toString('utf8'),
      ...(x.metadata === undefined ? {} : { metadata: x.metadata })
    })),
    control: d.control
  }
}

export function vectors(): Record<string, BatchMessage> {
  const readings = [
    r(100, 'press-12', 'telemetry', '{"ts":1760000000100,"n":0,"temp":21.05,"hum":45.2,"vib":0.012,"bat":3.812}', {
      eventMs: 1_760_000_000_100
    }),
    r(101, 'press-7', 'telemetry', '{"ts":1760000000105,"n":9,"temp":-3.5,"hum":null,"vib":0,"bat":4}', {
      eventMs: 1_760_000_000_105
    }),
    r(103, 'press-12', 'telemetry', '{"ts":1760000000600,"n":1,"temp":21.1,"hum":45.3,"vib":0.009,"bat":3.812}', {
      eventMs: 1_760_000_000_600
    }),
    r(104, 'press-12', 'alarm', '{"code":"E42","msg":"over \\"temp\\"\\n","level":2,"ack":false}', { qos: 2 }),
    r(110, 'press-7', 'telemetry', '{"ts":1760000001,"n":10,"temp":-3.25,"hum":50,"vib":1e-7,"bat":3.999}', {
      eventMs: 1_760_000_001_000
    }),
    r(111, 'press-7', 'raw/bytes', Buffer.from([0, 1, 2, 0xff]), { qos: 0 }),
    r(112, 'press-12', 'telemetry', '{ "ts": "2025-10-09T08:53:21.600Z", "temp": 21 }', { eventMs: 1_760_000_001_600 }),
    r(113, 'press-12', 'telemetry', '{"ts":1760000002100,"n":2,"temp":20.95,"hum":45.25,"vib":0.5,"bat":3.811}', {
      eventMs: 1_760_000_002_100
    }),
    r(120, 'press-7', 'telemetry', '{"name":"Zürich ☃","temp":0.001}')
  ]
  const rollup = [
    r(
      200,
      'press-12',
      'telemetry',
      '{"start":1760000000000,"end":1760000010000,"count":3,"lastTs":1760000002100,"temp.count":3,"temp.min":20.95,"temp.max":21.1,"temp.mean":21.033333333333335,"temp.sum":63.1,"temp.last":20.95}',
      { eventMs: 1_760_000_000_000 }
    )
  ]
  return {
    'v2-readings': encodeBatch(GW, readings, { cls: 'telemetry' }),
    'v2-readings-zlib': encodeBatch(GW, readings, { cls: 'telemetry', compress: true }),
    'v2-rollup-live': encodeBatch(GW, rollup, { kind: 'rollup', lane: 'live', cls: 'telemetry' }),
    'v2-alarm-by-device': encodeBatch(GW, [readings[3]!], { cls: 'alarm', key: 'press-12' }),
    'v3-metadata': encodeBatch(
      GW,
      [
        r(300, 'press-12', 'telemetry', '{"ts":1760000003000,"temp":21.2}', {
          eventMs: 1_760_000_003_000,
          props: packMetadata('application/json', [
            ['site', 'plant-7'],
            ['unit', '°C'],
            ['site', 'annex']
          ])
        }),
        r(301, 'press-7', 'telemetry', '{"ts":1760000003005,"temp":-3}', { eventMs: 1_760_000_003_005 }),
        r(302, 'press-12', 'raw/bytes', Buffer.from([0xa1, 0x61, 0x74, 0x18, 0x2a]), {
          props: packMetadata('application/cbor', [])
        }),
        r(303, 'press-7', 'telemetry', '{"ts":1760000003505,"temp":-2.5}', {
          eventMs: 1_760_000_003_505,
          props: packMetadata(undefined, [['trace', '7f3a']])
        })
      ],
      { cls: 'telemetry', lane: 'live' }
    ),
    'v2-ledger': encodeControl({
      type: 'ledger',
      gatewayId: GW,
      from: 99,
      through: 200,
      timeMs: T0 + 5000,
      dropped: [
        { device: 'press-7', reason: 'disk_drop_oldest', seqs: [102, 105, 106] },
        { device: 'press-12', reason: 'rollup_only', seqs: [107, 108, 109] }
      ],
      gaps: [
        { first: 114, last: 119, reason: 'unreadable' },
        { first: 121, last: 199, reason: 'seq_jump' }
      ],
      devices: [
        { device: 'press-12', released: 5, dropped: { rollup_only: 3 } },
        { device: 'press-7', released: 4, dropped: { disk_drop_oldest: 3, payload_too_large: 1 } }
      ],
      totals: {
        stored: 15,
        forwarded: 9,
        forwardedRollups: 1,
        buffered: 0,
        'dropped.disk_drop_oldest': 3,
        'dropped.payload_too_large': 1,
        'dropped.rollup_only': 3
      }
    })
  }
}

if (process.argv[1]?.endsWith('make-vectors.js')) {
  for (const [name, m] of Object.entries(vectors())) {
    writeFileSync(join(DIR, `${name}.hf`), m.value)
    writeFileSync(join(DIR, `${name}.json`), JSON.stringify(expected(m), null, 2) + '\n')
  }
}
