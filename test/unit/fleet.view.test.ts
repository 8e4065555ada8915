import { test } from 'node:test'
import assert from 'node:assert/strict'
import { desiredLayers, gatewayRows, rollout } from '../../src/cli/fleet-view.js'

const msg = (key: string | null, value: unknown, ts = 0) => ({
  key,
  value: value === null ? null : Buffer.from(JSON.stringify(value)),
  offset: '0',
  timestamp: String(ts)
})
const doc = (version: number) => ({ document: { version }, signature: {} })
const NOW = Date.parse('2026-01-01T00:10:00Z')
const at = (agoS: number) => new Date(NOW - agoS * 1000).toISOString()
const hb = (gatewayId: string, agoS: number, config: Record<string, unknown>) => ({
  type: 'heartbeat',
  gatewayId,
  at: at(agoS),
  intervalMs: 2000,
  config
})
const ev = (gatewayId: string, type: string, key: string, version: number | null, agoS: number, extra = {}) => ({
  type,
  gatewayId,
  key,
  version,
  at: at(agoS),
  seq: Math.round(1000 - agoS),
  ...extra
})

test('desired layers: the latest document per key, tombstones remove', () => {
  const d = desiredLayers([msg('*', doc(1)), msg('gw-1', doc(4)), msg('*', doc(2)), msg('gw-1', null)])
  assert.deepEqual(
    [...d.values()].map(x => `${x.key}:${x.version}`),
    ['*:2']
  )
})

test('rows: desired vs reported, pending from a newer applied event, offline after 2.5 intervals', () => {
  const desired = desiredLayers([msg('*', doc(3)), msg('group:site=a', doc(1)), msg('gw-2', doc(9))])
  const reports = [
    hb('gw-1', 1, {
      state: 'confirmed',
      groups: ['site=a'],
      layers: [
        { key: '*', version: 3 },
        { key: 'group:site=a', version: 1 }
      ]
    }),
    hb('gw-2', 4, {
      state: 'confirmed',
      groups: [],
      layers: [{ key: '*', version: 3 }],
      overridden: ['batch.lingerMs']
    }),
    ev('gw-2', 'applied', 'gw-2', 9, 3),
    hb('gw-3', 5.1, { state: 'confirmed', groups: [], layers: [{ key: '*', version: 3 }] }),
    hb('gw-4', 4.9, { state: 'confirmed', groups: [], layers: [{ key: '*', version: 2 }] })
  ]
  const rows = gatewayRows(reports, desired, NOW)
  const by = Object.fromEntries(rows.map(r => [r.gatewayId, r]))
  assert.equal(by['gw-1']!.state, 'confirmed')
  assert.equal(by['gw-1']!.inSync, true)
  assert.equal(by['gw-2']!.state, 'pending', 'an applied event newer than the last heartbeat')
  assert.deepEqual(by['gw-2']!.overridden, ['batch.lingerMs'])
  assert.equal(by['gw-2']!.inSync, false)
  assert.equal(by['gw-3']!.state, 'offline', '5.1 s without a heartbeat at a 2 s interval')
  assert.equal(by['gw-4']!.state, 'confirmed', '4.9 s is within 2.5 intervals')
  assert.equal(by['gw-4']!.inSync, false, 'v2 in force, v3 desired')
})

test('rows: a refused document is not desired (the gateway keeps its layer), and is listed as refused', () => {
  const desired = desiredLayers([msg('*', doc(3)), msg('gw-1', doc(8)), msg('gw-2', doc(5)), msg('gw-4', doc(2))])
  /** A heartbeat with the fleet default v3 in force, and the gateway's own layer at `own` if given. */
  const g = (id: string, own?: number) =>
    hb(id, 1, {
      state: 'confirmed',
      groups: [],
      layers: [{ key: '*', version: 3 }, ...(own === undefined ? [] : [{ key: id, version: own }])]
    })
  const reports = [
    // gw-1: own v7 in force, v8 rejected: it stays on v7 until a newer document comes.
    g('gw-1', 7),
    ev('gw-1', 'confirmed', 'gw-1', 7, 60),
    ev('gw-1', 'rejected', 'gw-1', 8, 30, { reason: 'invalid' }),
    // gw-2: own v5 applied, then rolled back to no own layer.
    g('gw-2'),
    ev('gw-2', 'applied', 'gw-2', 5, 30),
    ev('gw-2', 'rolled-back', 'gw-2', 5, 20, { reason: 'uplink_unconfirmed' }),
    // gw-3: its own layer deleted on the topic, the deletion rolled back: it keeps own v4.
    g('gw-3', 4),
    ev('gw-3', 'applied', 'gw-3', null, 30, { deleted: true }),
    ev('gw-3', 'rolled-back', 'gw-3', null, 20, { reason: 'uplink_unconfirmed' }),
    // gw-4: v1 rejected, then v2 confirmed: the rejection is of an older document.
    g('gw-4', 2),
    ev('gw-4', 'rejected', 'gw-4', 1, 40, { reason: 'invalid' }),
    ev('gw-4', 'confirmed', 'gw-4', 2, 30)
  ]
  const by = Object.fromEntries(gatewayRows(reports, desired, NOW).map(r => [r.gatewayId, r]))
  assert.deepEqual(by['gw-1']!.desired, [
    { key: '*', version: 3 },
    { key: 'gw-1', version: 7 }
  ])
  assert.deepEqual(by['gw-1']!.refused, [{ key: 'gw-1', version: 8, outcome: 'rejected', reason: 'invalid' }])
  assert.equal(by['gw-1']!.inSync, true)
  assert.deepEqual(by['gw-2']!.desired, [{ key: '*', version: 3 }])
  assert.deepEqual(by['gw-2']!.refused, [
    { key: 'gw-2', version: 5, outcome: 'rolled-back', reason: 'uplink_unconfirmed' }
  ])
  assert.equal(by['gw-2']!.inSync, true)
  assert.deepEqual(by['gw-3']!.desired, [
    { key: '*', version: 3 },
    { key: 'gw-3', version: 4 }
  ])
  assert.deepEqual(by['gw-3']!.refused, [
    { key: 'gw-3', version: null, outcome: 'rolled-back', reason: 'uplink_unconfirmed' }
  ])
  assert.equal(by['gw-3']!.inSync, true)
  assert.deepEqual(by['gw-4']!.refused, [], 'the rejected v1 is not the latest document')
  assert.equal(by['gw-4']!.inSync, true)
})

test('rollout: every concerned gateway counted once, by its last outcome for that version', () => {
  const desired = desiredLayers([msg('group:site=a', doc(5))])
  const g = (id: string, groups: string[], agoS = 1) => hb(id, agoS, { state: 'confirmed', groups, layers: [] })
  const reports = [
    g('a1', ['site=a']),
    ev('a1', 'applied', 'group:site=a', 5, 9),
    ev('a1', 'confirmed', 'group:site=a', 5, 8),
    g('a2', ['site=a']),
    ev('a2', 'applied', 'group:site=a', 5, 9),
    g('a3', ['site=a', 'hw=x']),
    ev('a3', 'rejected', 'group:site=a', 5, 9, { reason: 'invalid', message: 'bad' }),
    g('a4', ['site=a']),
    ev('a4', 'applied', 'group:site=a', 5, 9),
    ev('a4', 'rolled-back', 'group:site=a', 5, 2),
    g('a5', ['site=a']),
    ev('a5', 'ignored', 'group:site=a', 5, 9, { reason: 'superseded' }),
    g('a6', ['site=a']),
    g('a7', ['site=a'], 60),
    g('b1', ['site=b']),
    ev('b1', 'confirmed', 'group:site=b', 5, 9)
  ]
  const r = rollout(gatewayRows(reports, desired, NOW), 'group:site=a', 5)
  assert.equal(r.total, 7, 'b1 is not in site=a')
  assert.deepEqual(r.counts, {
    confirmed: 1,
    applied: 1,
    'rolled-back': 1,
    rejected: 1,
    ignored: 1,
    'not-yet-seen': 1,
    offline: 1
  })
  assert.equal(r.done, false, 'a2 still pending, a6 not yet seen')
  assert.equal(r.gateways.find(x => x.gatewayId === 'a3')!.reason, 'invalid')
})
