/**
 * A planning thread for test/unit/remote-config.plan-thread.test.ts, given to the Planner as its
 * `worker`: a request for the layer key `hang` (or any rollback target) is never answered, as a
 * planning thread stuck in a loop would not be; any other is planned by the real thread.
 */
import { workerData } from 'node:worker_threads'
import type { PlanRequest } from '../../src/remote-config/plan-thread.js'

const r = workerData as PlanRequest
if (r.op.kind === 'layers' || r.op.key === 'hang') setInterval(() => {}, 1_000)
else await import('../../src/remote-config/plan-worker.js')
