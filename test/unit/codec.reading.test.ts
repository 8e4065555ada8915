import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DEVICE_ID, deviceOfTopic, isValidDeviceId } from '../../src/codec/reading.js'
import { loadConfig } from '../../src/config/load.js'

test('reading topics: devices/<id>/<stream...> names the device; anything else is no reading', () => {
  assert.equal(deviceOfTopic('devices/press-12/telemetry'), 'press-12')
  assert.equal(deviceOfTopic('devices/AA:BB:CC:01/a/b/c'), 'AA:BB:CC:01')
  assert.equal(deviceOfTopic('devices/press-12'), null, 'no stream')
  assert.equal(deviceOfTopic('devices/press-12/'), null, 'empty stream')
  assert.equal(deviceOfTopic('devices//telemetry'), null)
  assert.equal(deviceOfTopic('devices/-lead/telemetry'), null, 'ids start alphanumeric')
  assert.equal(deviceOfTopic(`devices/${'a'.repeat(129)}/t`), null, 'at most 128 characters')
  assert.equal(deviceOfTopic('plant/press-12/telemetry'), null)
})

test('one device-id rule for topics, the CLI and the config: what one accepts the others accept', () => {
  for (const id of ['a', 'press-12', 'AA:BB:CC:01', 'x.y_z', 'a'.repeat(128)]) {
    assert.ok(isValidDeviceId(id), id)
    assert.doesNotThrow(() => loadConfig({ env: {}, document: { devices: { [id]: {} } } }), id)
  }
  for (const id of ['', '-a', 'a b', 'a/b', 'a+', 'a#', 'a'.repeat(129), 'é']) {
    assert.ok(!isValidDeviceId(id), id)
    assert.ok(!DEVICE_ID.test(id))
    assert.throws(() => loadConfig({ env: {}, document: { devices: { [id]: {} } } }), id)
  }
})
