/** What the parts of the admission step share: the running parts and the live settings. */
import type { Client } from 'aedes'
import type { Classifier } from '../aggregate/classify.js'
import type { Relief } from '../aggregate/pressure.js'
import type { Config } from '../config/schema.js'
import type { Logger } from '../log.js'
import type { HoldfastError } from '../errors.js'
import type { Counters, DropReason } from '../metrics/counters.js'
import type { QuotaBook } from '../quota/limits.js'
import type { StorageGuard } from '../quota/storage.js'
import type { ReadingBuffer } from '../store/buffer.js'
import { PUBLISH_REASON, withReason } from './reason-codes.js'
import type { ConnState, Sessions } from './sessions.js'

export interface AdmissionContext {
  readonly buffer: Pick<ReadingBuffer, 'writer' | 'usage' | 'resend'>
  readonly counters: Counters
  readonly log: Logger
  readonly sessions: Sessions
  readonly storage: StorageGuard
  /** Replaced whole by reconfigure() (remote configuration): read per use, never cached. */
  config: () => Readonly<Config>
  book: () => QuotaBook
  /** Priority, kind and parsed metrics of a reading (src/aggregate/classify.ts); absent = raw, priority 0. */
  classify?: Classifier
  /** Degrade before dropping (src/aggregate/pressure.ts): runs before the storage quotas decide. */
  relieve?: Relief
}

export function addressOf(client: Client): string {
  return (client.conn as { remoteAddress?: string }).remoteAddress ?? 'unknown'
}

export type PublishDone = (err?: Error | null) => void

/**
 * A refused publish: counted by device and reason, logged (a few per connection), then the callback
 * with the MQTT 5 reason code (src/broker/reason-codes.ts) and the code in the Reason String.
 */
export function rejectPublish(
  ctx: AdmissionContext,
  client: Client,
  state: ConnState | undefined,
  device: string | null,
  reason: DropReason,
  err: HoldfastError,
  cb: PublishDone
): void {
  ctx.counters.drop(device, reason)
  if (reason === 'acl_denied' && state?.device != null) state.device.stats.denied()
  ctx.sessions.warn(state, { code: err.code, client: client.id, device, ...err.details }, err.message)
  const r = PUBLISH_REASON[reason]
  // A failed group commit hands one error to each of its publishes: prefix it once.
  if (!err.message.startsWith(`${err.code}: `)) err.message = `${err.code}: ${err.message}`
  cb(withReason(err, r.code, r.disconnect === true))
}
