/**
 * The planning thread (plan-thread.ts): works out one plan (plan.ts) from its workerData and posts it
 * back, at the lowest priority (platform/thread-nice.ts), so on a one-core box it takes the CPU the
 * broker's thread leaves. Trusted keys arrive as SPKI DER.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { niceThisThread } from '../platform/thread-nice.js'
import type { PlanContext } from './plan.js'
import type { PlanRequest } from './plan-thread.js'

niceThisThread(19)
// Loaded after the priority is lowered: the loader's code is most of the thread's start.
const { planLayers, planMessage } = await import('./plan.js')
const { parsePublicKey } = await import('./verify.js')

const r = workerData as PlanRequest
const context: PlanContext = {
  ...r.context,
  keys: r.context.keys.map(k => ({ id: k.id, key: parsePublicKey(Buffer.from(k.der).toString('base64')) }))
}
const result =
  r.op.kind === 'message'
    ? planMessage(
        context,
        r.op.state,
        r.op.key,
        r.op.value === null ? null : Buffer.from(r.op.value.buffer, r.op.value.byteOffset, r.op.value.byteLength)
      )
    : planLayers(context, r.op.layers)
parentPort!.postMessage(result)
