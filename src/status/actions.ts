/**
 * What a technician can do from the page. The forwarder implements this; until an uplink is
 * configured the stub below answers honestly that there is none, never with a fake success.
 */
import { HoldfastError } from '../errors.js'
import type { DrainResult } from '../forward/forwarder.js'

export type { DrainResult }

export interface UplinkTest {
  ok: boolean
  error?: string
}

export interface Actions {
  /** Try the uplink now (a metadata request); resolves with the outcome, never throws for a dead link. */
  testUplink: () => Promise<UplinkTest>
  /** Send what is buffered now, skipping linger and backoff; says how many readings went, or why none. */
  drainNow: () => Promise<DrainResult>
  /** Stop forwarding (readings keep being buffered) until resume. */
  pause: () => void | Promise<void>
  resume: () => void | Promise<void>
}

const NO_UPLINK = 'no uplink configured (kafka.brokers is empty)'

export const noUplinkActions: Actions = {
  testUplink: async () => ({ ok: false, error: NO_UPLINK }),
  drainNow: async () => {
    throw new HoldfastError('HF_ERR_UPLINK_UNCONFIGURED', NO_UPLINK)
  },
  pause: () => {
    throw new HoldfastError('HF_ERR_UPLINK_UNCONFIGURED', NO_UPLINK)
  },
  resume: () => {
    throw new HoldfastError('HF_ERR_UPLINK_UNCONFIGURED', NO_UPLINK)
  }
}
