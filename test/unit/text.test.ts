/**
 * Counts and device names in the verdicts read as `Intl` would write and order them, without loading
 * ICU (about 6 MB of node's binary paged in for the life of the process).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { emptyHostFacts } from '../../src/metrics/host.js'
import { assess, type HealthInput } from '../../src/status/health.js'
import { naturalCompare, thousands } from '../../src/text.js'

test('thousands writes integers as toLocaleString("en") does', () => {
  for (const n of [0, 7, 999, 1000, 12_345, 999_999, 1_000_000, 3_000_001, 2 ** 53 - 1, -1, -1234, -999_999])
    assert.equal(thousands(n), n.toLocaleString('en'), String(n))
  assert.equal(thousands(1234.4), '1,234')
  assert.equal(thousands(Number.NaN), 'NaN')
})

test('naturalCompare orders device ids as localeCompare("en", { numeric: true }) does', () => {
  const ids = [
    'sensor-10',
    'sensor-2',
    'Sensor-3',
    'sensor-1',
    'pump',
    'pump-01',
    'pump-1',
    'a10b2',
    'a10b10',
    'a9',
    '7'
  ]
  const icu = [...ids].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
  assert.deepEqual([...ids].sort(naturalCompare), icu)
  assert.equal(naturalCompare('x', 'x'), 0)
  assert.ok(naturalCompare('dev-99999999999999999999', 'dev-100000000000000000000') < 0, 'no overflow')
  assert.notEqual(naturalCompare('Pump', 'pump'), 0, 'a total order: names differing in case only')
})

test('the verdicts never touch Intl', () => {
  const saved = [Number.prototype.toLocaleString, String.prototype.localeCompare] as const
  const trap = (): never => {
    throw new Error('Intl used')
  }
  Number.prototype.toLocaleString = trap
  String.prototype.localeCompare = trap
  try {
    const input: HealthInput = {
      mqttListening: true,
      bufferWritable: true,
      recovery: { at: new Date().toISOString(), reason: 'torn page', salvagedReadings: 12_345, quarantinedTo: '/x' },
      uplink: { state: 'down', since: new Date().toISOString(), lastError: 'refused', etaS: null, drainRate: 0 },
      backlog: { readings: 1_234_567, bytes: 1e9, oldestAgeS: 4000 },
      budgetBytes: 2e9,
      minFreeBytes: 0,
      devices: ['dev-10', 'dev-2', 'dev-1'].map(id => ({ id, connected: false, lastSeenS: 600 })),
      recentDrops: { quota_storage: 1500, payload_too_large: 2 },
      recentDroppers: [{ device: 'dev-2', count: 1000 }],
      recentRefused: { bad_password: 1200 },
      recentErrors: 0,
      host: emptyHostFacts(),
      nowMs: Date.now()
    }
    const texts = assess(input).problems.map(p => p.text)
    for (const said of [
      '1,234,567 readings waiting',
      '12,345 readings kept',
      '1,502 readings dropped',
      '1,200 connections or logins refused',
      'offline for over a minute: dev-1, dev-2, dev-10'
    ])
      assert.ok(
        texts.some(t => t.includes(said)),
        `${said} in:\n${texts.join('\n')}`
      )
  } finally {
    Number.prototype.toLocaleString = saved[0]
    String.prototype.localeCompare = saved[1]
  }
})
