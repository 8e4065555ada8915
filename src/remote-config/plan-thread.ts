/**
 * Plans (plan.ts) are worked out on a worker thread started for each one and ended after it, so a
 * document listing thousands of devices does not hold the broker's thread while it is verified, merged
 * and validated. The configuration comes back as a structured clone and is frozen again here.
 *
 * The thread has a heap of its own (`remote.planHeapMb`) and `remote.planTimeoutMs` to answer. When it
 * fails (cannot start, runs out of that heap, throws) or does not answer in time, it is ended and the
 * plan fails with HF_ERR_REMOTE_PLAN: the message is rejected (`planning_failed`) and the next one gets
 * a fresh thread. A message is never planned on the broker's thread instead, however small: its plan
 * merges and validates every layer in force (a two-line group document over a fleet document of
 * thousands of devices costs what the fleet document does), and a box that cannot start a thread is
 * short of memory, where doing that work on the broker's thread risks the whole process. Only a
 * rollback's target may be planned here (see layers()).
 */
import { setImmediate as turn } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { deepFreeze } from '../config/load.js'
import { HoldfastError } from '../errors.js'
import type { Logger } from '../log.js'
import { planLayers, type LayersResult, type Plan, type PlanContext, type PlanState } from './plan.js'

export interface PlanRequest {
  context: Omit<PlanContext, 'keys'> & { keys: Array<{ id: string; der: Uint8Array }> }
  op:
    | { kind: 'message'; state: PlanState; key: string; value: Uint8Array | null }
    | { kind: 'layers'; layers: PlanState['layers'] }
}

export interface PlannerLimits {
  /** How long the thread has to answer (ms). */
  timeoutMs: number
  /** Its old-generation heap (MB). */
  heapMb: number
  /** The thread's module: plan-worker.js; unit tests give another (one that never answers). */
  worker?: URL
}

export class Planner {
  private readonly worker: URL

  constructor(
    private readonly context: PlanContext,
    private readonly log: Logger,
    private readonly limits: PlannerLimits
  ) {
    this.worker = limits.worker ?? new URL('./plan-worker.js', import.meta.url)
  }

  /** What a message would do; throws HF_ERR_REMOTE_PLAN when the thread fails or does not answer. */
  async message(state: PlanState, key: string, value: Buffer | null): Promise<Plan> {
    const plan = await this.run<Plan>({ kind: 'message', state, key, value })
    // Taking the plan in (its structured clone) and freezing it are two turns of the event loop, not one.
    await turn()
    if (plan.kind === 'apply') deepFreeze(plan.config)
    await turn()
    return plan
  }

  /**
   * The configuration a rollback restores. Should the thread fail, these layers are planned here,
   * once: a rollback must end the unconfirmed change, the layers were in force before it (so their
   * plan fits in memory), and the alternative — dropping every layer for the local configuration —
   * could refuse the devices the fleet documents list.
   */
  async layers(layers: PlanState['layers']): Promise<LayersResult> {
    let r: LayersResult
    try {
      r = await this.run<LayersResult>({ kind: 'layers', layers })
    } catch (err) {
      this.log.error(
        { code: 'HF_ERR_REMOTE_PLAN', err: (err as Error).message },
        'remote configuration planning thread failed; the rollback target is planned on the main thread'
      )
      return planLayers(this.context, layers)
    }
    await turn()
    if (r.ok) deepFreeze(r.config)
    await turn()
    return r
  }

  private run<T>(op: PlanRequest['op']): Promise<T> {
    const c = this.context
    const request: PlanRequest = {
      context: {
        gatewayId: c.gatewayId,
        order: c.order,
        inputs: c.inputs,
        keys: c.keys.map(k => ({ id: k.id, der: k.key.export({ format: 'der', type: 'spki' }) }))
      },
      op
    }
    const { timeoutMs, heapMb } = this.limits
    return new Promise<T>((resolve, reject) => {
      let worker: Worker | undefined
      let settled = false
      const fail = (why: string, reason: 'failed' | 'timeout'): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        void worker?.terminate()
        reject(new HoldfastError('HF_ERR_REMOTE_PLAN', `the planning thread ${why}`, { reason, timeoutMs, heapMb }))
      }
      const timer = setTimeout(
        () => fail(`did not answer within remote.planTimeoutMs (${timeoutMs} ms)`, 'timeout'),
        timeoutMs
      )
      try {
        worker = new Worker(this.worker, { workerData: request, resourceLimits: { maxOldGenerationSizeMb: heapMb } })
      } catch (err) {
        return fail(`could not start: ${(err as Error).message}`, 'failed')
      }
      worker.once('message', (m: T) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(m)
        void worker.terminate()
      })
      worker.once('error', err => fail(`failed (its heap: remote.planHeapMb ${heapMb}): ${err.message}`, 'failed'))
      worker.once('exit', code => fail(`exited (code ${code}) without a plan`, 'failed'))
    })
  }
}
