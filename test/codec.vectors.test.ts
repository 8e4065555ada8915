import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { decodeMessage, encodeBatch, type BatchMessage } from '../src/codec/batch.js'
import { eventTimeOf } from '../src/codec/reading.js'
import { expected, vectors } from './vectors/make-vectors.js'
import { ROOT, runCli } from './harness/gateway.js'

// The golden vectors in test/vectors/ are what implementers in other languages test against: every
// value must decode to its JSON, through the library and through `holdfast decode`, and the version 2/3
// encoder must still write the same bytes.

const DIR = join(ROOT, 'test/vectors')
const names = readdirSync(DIR)
  .filter(f => f.endsWith('.hf'))
  .map(f => f.slice(0, -3))
  .sort()

interface Expected {
  key: string
  headers: Record<string, string>
  version: number
  type: string
  readings: Array<{
    eventId: string
    seq: number
    device: string
    topic: string
    recvMs: number
    eventMs: number | null
    qos: number
    kind: 'raw' | 'rollup'
    lane: 'backlog' | 'live'
    cls: string
    payloadBase64: string
    metadata?: { userProperties?: Array<[string, string]>; contentType?: string }
  }>
  control: unknown
}
const load = (name: string): { value: Buffer; want: Expected } => ({
  value: readFileSync(join(DIR, `${name}.hf`)),
  want: JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as Expected
})

test('every golden vector decodes to its JSON (versions 1, 2 and 3, both codecs, readings, rollups, metadata, a ledger)', () => {
  assert.ok(names.length >= 7, `vectors: ${names.join(', ')}`)
  for (const name of names) {
    const { value, want } = load(name)
    const m: BatchMessage = { key: want.key, value, headers: want.headers }
    assert.deepEqual(JSON.parse(JSON.stringify(expected(m))), want, name)
  }
})

test('the version 2/3 encoder writes the vectors byte for byte', () => {
  for (const [name, m] of Object.entries(vectors())) {
    const { value, want } = load(name)
    assert.ok(m.value.equals(value), `${name}: the encoder's bytes changed`)
    assert.deepEqual(m.headers, want.headers, name)
    assert.equal(m.key, want.key, name)
  }
  // Re-encoding the expected readings (not the decoder's output) gives the same value.
  const { value, want } = load('v2-readings')
  const again = encodeBatch(
    want.readings[0]!.eventId.split(':')[0]!,
    want.readings.map(r => ({
      seq: r.seq,
      device: r.device,
      topic: r.topic,
      payload: Buffer.from(r.payloadBase64, 'base64'),
      recvMs: r.recvMs,
      eventMs: r.eventMs,
      qos: r.qos
    })),
    { cls: 'telemetry' }
  )
  assert.ok(again.value.equals(value))
})

test('event times in the vectors follow the one rule (ms vs s, ISO-8601)', () => {
  for (const name of names) {
    for (const r of load(name).want.readings)
      if (r.kind === 'raw')
        assert.equal(eventTimeOf(Buffer.from(r.payloadBase64, 'base64')), r.eventMs, `${name} ${r.eventId}`)
  }
})

test('holdfast decode prints every vector reading as the JSON says', async () => {
  for (const name of names) {
    const { want } = load(name)
    const out = await runCli(['decode', join(DIR, `${name}.hf`)])
    assert.equal(out.code, 0, out.stderr)
    const lines = out.stdout
      .trim()
      .split('\n')
      .filter(l => l !== '')
      .map(l => JSON.parse(l))
    assert.equal(lines.length, want.readings.length, name)
    const bySeq = new Map(lines.map(l => [l.seq, l]))
    for (const r of want.readings) {
      const l = bySeq.get(r.seq)
      assert.ok(l, `${name}: seq ${r.seq} printed`)
      assert.equal(l.eventId, r.eventId)
      assert.equal(l.device, r.device)
      assert.equal(l.topic, r.topic)
      assert.equal(l.qos, r.qos)
      assert.deepEqual([l.class, l.kind, l.lane], [r.cls, r.kind, r.lane], `${name}: seq ${r.seq} class, kind, lane`)
      assert.equal(l.recvTime, new Date(r.recvMs).toISOString())
      assert.equal(l.eventTime, r.eventMs === null ? null : new Date(r.eventMs).toISOString())
      assert.deepEqual(l.metadata, r.metadata ?? {}, `${name}: seq ${r.seq} metadata`)
      const bytes = Buffer.from(r.payloadBase64, 'base64')
      if (l.payloadBase64 !== undefined) assert.equal(l.payloadBase64, r.payloadBase64)
      else assert.deepEqual(l.payload, JSON.parse(bytes.toString('utf8')))
    }
  }
})

test('holdfast reconcile on the vectors: the ledger accounts for every seq; without the rollup one is missing', async () => {
  const files = ['v2-readings', 'v2-rollup-live', 'v2-ledger'].map(n => join(DIR, `${n}.hf`))
  const ok = await runCli(['reconcile', ...files])
  assert.equal(ok.code, 0, ok.stdout + ok.stderr)
  const summary = JSON.parse(ok.stdout.trim().split('\n').pop()!).summary
  assert.deepEqual([summary.ok, summary.missingSeqs, summary.delivered], [true, 0, 9])
  const missing = await runCli(['reconcile', files[0]!, files[2]!])
  assert.equal(missing.code, 1)
  assert.equal(JSON.parse(missing.stdout.trim().split('\n').pop()!).summary.missingSeqs, 1)
  const noLedger = await runCli(['reconcile', files[0]!])
  assert.equal(noLedger.code, 1, 'a gateway without a ledger cannot be reconciled')
})

test('a control record decodes as one, with no readings', () => {
  const m = decodeMessage(load('v2-ledger').value, { 'hf-format': '2', 'hf-kind': 'control' })
  assert.equal(m.type, 'control')
  assert.equal(m.readings.length, 0)
  assert.equal(m.control?.through, 200)
})
