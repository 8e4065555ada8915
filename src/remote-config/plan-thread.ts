/**
 * Plans (plan.ts) are worked out on a worker thread started for each one and ended after it, so a
 * document listing thousands of devices does not hold the broker's thread while it is verified, merged
 * and validated. The configuration comes back as a structured clone and is frozen again here. Should
 * the thread fail (it cannot start, runs out of memory), the plan is worked out here instead: slower
 * for the devices meanwhile, but every document still gets its outcome.
 */
import { setImmediate as turn } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { deepFreeze } from '../config/load.js'
import type { Logger } from '../log.js'
import { planLayers, planMessage, type LayersResult, type Plan, type PlanContext, type PlanState } from './plan.js'

export interface PlanRequest {
  context: Omit<PlanContext, 'keys'> & { keys: Array<{ id: string; der: Uint8Array }> }
  op:
    | { kind: 'message'; state: PlanState; key: string; value: Uint8Array | null }
    | { kind: 'layers'; layers: PlanState['layers'] }
}

export class Planner {
  constructor(
    private readonly context: PlanContext,
    private readonly log: Logger
  ) {}

  async message(state: PlanState, key: string, value: Buffer | null): Promise<Plan> {
    const plan = await this.run<Plan>({ kind: 'message', state, key, value }, () =>
      planMessage(this.context, state, key, value)
    )
    // Taking the plan in (its structured clone) and freezing it are two turns of the event loop, not one.
    await turn()
    if (plan.kind === 'apply') deepFreeze(plan.config)
    await turn()
    return plan
  }

  async layers(layers: PlanState['layers']): Promise<LayersResult> {
    const r = await this.run<LayersResult>({ kind: 'layers', layers }, () => planLayers(this.context, layers))
    await turn()
    if (r.ok) deepFreeze(r.config)
    await turn()
    return r
  }

  private async run<T>(op: PlanRequest['op'], inline: () => T): Promise<T> {
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
    try {
      return await new Promise<T>((resolve, reject) => {
        const worker = new Worker(new URL('./plan-worker.js', import.meta.url), { workerData: request })
        let done = false
        worker.once('message', (m: T) => {
          done = true
          resolve(m)
          void worker.terminate()
        })
        worker.once('error', reject)
        worker.once('exit', code => {
          if (!done) reject(new Error(`the planning thread exited (code ${code}) without a plan`))
        })
      })
    } catch (err) {
      this.log.error(
        { code: 'HF_ERR_REMOTE', err: (err as Error).message },
        'remote configuration planning thread failed; planning on the main thread'
      )
      return inline()
    }
  }
}
