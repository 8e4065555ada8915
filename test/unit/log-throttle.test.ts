import { test } from 'node:test'
import assert from 'node:assert/strict'
import { LogThrottle } from '../../src/log-throttle.js'

test('a key is due once per interval, then says how many were held back meanwhile; keys are apart', () => {
  const t = new LogThrottle<string>(10_000)
  assert.equal(t.due('a', 0), 0, 'the first is logged')
  assert.equal(t.due('a', 1_000), null)
  assert.equal(t.due('a', 9_999), null)
  assert.equal(t.due('b', 9_999), 0, 'another key is not held by it')
  assert.equal(t.due('a', 10_000), 2, 'due again, with the two held back')
  assert.equal(t.due('a', 10_001), null)
})

test('past its key limit the memory starts afresh (keys per device stay bounded)', () => {
  const t = new LogThrottle<number>(10_000, 2)
  assert.equal(t.due(1, 0), 0)
  assert.equal(t.due(2, 0), 0)
  assert.equal(t.due(1, 1), null, 'known, still within the interval')
  assert.equal(t.due(3, 1), 0, 'a third key clears the others')
  assert.equal(t.due(1, 2), 0, 'so key 1 is due again')
})
