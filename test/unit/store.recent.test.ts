import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RECENT_PER_DEVICE, RecentReadings, writeFingerprint } from '../../src/store/recent.js'

const fingerprint = (topic: string, payload: Buffer): Buffer => {
  const out = Buffer.alloc(8)
  writeFingerprint(topic, payload, out, 0)
  return out
}

const reading = (i: number): Buffer => Buffer.from(JSON.stringify({ t: 1_700_000_000_000 + i, v: i }))

test('fingerprints keep the bytes the durable re-send record was written with', () => {
  // resend_window rows written by earlier versions are read back at start: these bytes must never change.
  assert.equal(
    fingerprint('devices/a/t', Buffer.from('{"t":1700000000000,"v":21.5}')).toString('hex'),
    'f5e4dc8d320e70a9'
  )
  assert.equal(fingerprint('x', Buffer.alloc(0)).toString('hex'), 'c61f4a0ed73beab5')
  assert.equal(fingerprint('tø/ü', Buffer.from('abcde')).toString('hex'), '5ec319d892015a92')
})

test("a device's last 64 readings are recognised, older ones and other devices' are not", () => {
  const recent = new RecentReadings()
  // Enough devices that the rings grow past their first allocation while holding readings.
  for (let d = 0; d < 40; d++)
    for (let i = 0; i < RECENT_PER_DEVICE + 10; i++) recent.remember(`dev-${d}`, `devices/dev-${d}/t`, reading(i))
  for (let d = 0; d < 40; d++) {
    for (let i = 10; i < RECENT_PER_DEVICE + 10; i++)
      assert.ok(recent.has(`dev-${d}`, `devices/dev-${d}/t`, reading(i)), `dev-${d} reading ${i} is recent`)
    for (let i = 0; i < 10; i++)
      assert.equal(recent.has(`dev-${d}`, `devices/dev-${d}/t`, reading(i)), false, `dev-${d} reading ${i} has left`)
  }
  assert.equal(recent.has('dev-1', 'devices/dev-0/t', reading(20)), false, 'another device')
  assert.equal(recent.has('dev-0', 'devices/dev-0/u', reading(20)), false, 'another topic, same bytes')
  assert.equal(recent.has('dev-0', 'devices/dev-0/t', Buffer.from(' ')), false, 'other bytes')
  assert.equal(recent.has('nobody', 'devices/nobody/t', reading(20)), false, 'an unknown device')
})

test('a reading restored by its fingerprint is recognised by its bytes', () => {
  const recent = new RecentReadings()
  recent.rememberFingerprint('dev-0', fingerprint('devices/dev-0/t', reading(7)))
  assert.ok(recent.has('dev-0', 'devices/dev-0/t', reading(7)))
  assert.equal(recent.has('dev-0', 'devices/dev-0/t', reading(8)), false)
})
