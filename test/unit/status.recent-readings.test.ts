import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DeviceStats, PAYLOAD_PREVIEW, RECENT_READINGS } from '../../src/metrics/counters.js'

test("a device's recent readings: the last ten, oldest first, with their previews as their sizes grow past the ring's stride", () => {
  const d = new DeviceStats('dev-1')
  const sent: Array<{ topic: string; payload: Buffer; eventMs: number | null; recvMs: number }> = []
  // Sizes that make the previews' stride grow several times, with earlier previews copied over, and one
  // payload longer than a preview.
  const sizes = [3, 40, 2, 90, 0, 17, 300, 5, 64, 129, 1, 255, 8, 33]
  sizes.forEach((n, i) => {
    const payload = Buffer.from(Array.from({ length: n }, (_, k) => (i * 31 + k) % 256))
    const topic = i % 3 === 0 ? 'devices/dev-1/alarm' : 'devices/dev-1/telemetry'
    const eventMs = i % 4 === 1 ? null : 1_700_000_000_000 + i * 1000
    d.lastSeenMs = 1_800_000_000_000 + i
    d.noteReading(topic, payload, eventMs)
    sent.push({ topic, payload, eventMs, recvMs: d.lastSeenMs })
    const want = sent.slice(-RECENT_READINGS)
    const got = d.recentReadings()
    assert.equal(got.length, want.length, `after ${i + 1} readings`)
    got.forEach((r, k) => {
      const w = want[k]!
      assert.equal(r.topic, w.topic)
      assert.equal(r.bytes, w.payload.length)
      assert.equal(r.eventMs, w.eventMs)
      assert.equal(r.recvMs, w.recvMs)
      assert.deepEqual(r.payload, w.payload.subarray(0, PAYLOAD_PREVIEW), `preview ${k} after ${i + 1} readings`)
    })
  })
})

test('a preview handed out is a copy: later readings do not change it', () => {
  const d = new DeviceStats('dev-2')
  d.noteReading('t', Buffer.from('first'), null)
  const [r] = d.recentReadings()
  for (let i = 0; i < RECENT_READINGS; i++) d.noteReading('t', Buffer.from(`later-${i}`), null)
  assert.equal(r!.payload.toString(), 'first')
})
