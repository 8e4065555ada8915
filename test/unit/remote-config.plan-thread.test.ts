import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { isHoldfastError } from '../../src/errors.js'
import { Planner, type PlannerLimits } from '../../src/remote-config/plan-thread.js'
import { keyIdOf, signDocument } from '../../src/remote-config/verify.js'
import { hashCheap } from '../harness/devices.js'
import { memoryLogger } from './setup.js'

// Found by a review: a planning thread that failed (a document too large for its memory) had the plan
// made on the broker's thread instead, and one that hung was never timed out.

const { publicKey, privateKey } = generateKeyPairSync('ed25519')
const context = {
  gatewayId: 'gw',
  order: ['*', 'hang', 'gw'],
  keys: [{ id: keyIdOf(publicKey), key: publicKey }],
  inputs: { flags: {}, env: { HOLDFAST_KAFKA_BROKERS: '127.0.0.1:9092' } }
}
const empty = { layers: {}, floors: {}, overridden: [] }

async function documentOf(devices: number, gatewayId = 'gw'): Promise<Buffer> {
  const hash = await hashCheap('secret')
  const list: Record<string, unknown> = {}
  for (let i = 0; i < devices; i++) list[`dev-${i}`] = { passwordHash: hash }
  const config = { kafka: { brokers: ['127.0.0.1:9092'], topic: 't' }, devices: list }
  return Buffer.from(JSON.stringify(signDocument({ gatewayId, version: 1, config }, privateKey)))
}

function planner(limits: PlannerLimits) {
  const { log, lines } = memoryLogger()
  return { p: new Planner(context, log, limits), lines }
}

async function failure(run: Promise<unknown>): Promise<Record<string, unknown>> {
  try {
    await run
  } catch (err) {
    assert.ok(isHoldfastError(err, 'HF_ERR_REMOTE_PLAN'), `HF_ERR_REMOTE_PLAN, not ${String(err)}`)
    return err.details
  }
  assert.fail('the plan was made')
}

test('a planning thread out of its heap fails the plan with HF_ERR_REMOTE_PLAN (not planned on this thread); the next message gets a fresh thread', async () => {
  // 8 MB plans a document of 10 devices, not one of 2,000 (about 230 kB).
  const { p } = planner({ timeoutMs: 60_000, heapMb: 8 })
  const details = await failure(p.message(empty, 'gw', await documentOf(2000)))
  assert.equal(details.reason, 'failed')
  const plan = await p.message(empty, 'gw', await documentOf(10))
  assert.equal(plan.kind, 'apply')
})

test('a planning thread that does not answer is ended after timeoutMs: HF_ERR_REMOTE_PLAN, and the next message is planned', async () => {
  const { p } = planner({
    timeoutMs: 1_000,
    heapMb: 64,
    worker: new URL('./plan-hang-worker.js', import.meta.url)
  })
  const details = await failure(p.message(empty, 'hang', await documentOf(1, 'hang')))
  assert.equal(details.reason, 'timeout')
  const plan = await p.message(empty, 'gw', await documentOf(10))
  assert.equal(plan.kind, 'apply')
  // The stuck thread was terminated: were it still running, this test file would never exit.
})

test("a rollback's target is still planned when its thread does not answer (here, once), logged HF_ERR_REMOTE_PLAN", async () => {
  const { p, lines } = planner({
    timeoutMs: 1_000,
    heapMb: 64,
    worker: new URL('./plan-hang-worker.js', import.meta.url)
  })
  const r = await p.layers({})
  assert.equal(r.ok, true, JSON.stringify(r))
  assert.ok(lines().some(l => l.code === 'HF_ERR_REMOTE_PLAN'))
})
