/**
 * The forwarder: sends what the buffer holds oldest-first, one Kafka request per cycle (request.ts
 * plans each, the read worker reads and encodes it), the next one prepared while Kafka works on the
 * last, and releases readings only after Kafka's ack. While a large backlog drains, a share of each
 * request goes to the newest readings (the live lane) so fresh data is not stuck behind hours of backlog.
 */
import type { Config } from '../config/schema.js'
import { HoldfastError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Counters } from '../metrics/counters.js'
import type { ReadingBuffer } from '../store/buffer.js'
import { describe } from '../kafka/client.js'
import { KAFKA_COMPRESSION } from '../codec/batch.js'
import { Attempts } from './attempts.js'
import { Backoff } from './backoff.js'
import type { Uplinker } from './producer.js'
import { Uplink, type UplinkView } from './uplink.js'
import { uplinkCause } from './uplink-cause.js'
import { PriorityClasses } from './priority.js'
import { type ClassStateView, classStates, type UplinkBudget } from './budget.js'
import type { LedgerEmitter } from './ledger-emitter.js'
import { OVERLAP_RELEASES, releaseRequest } from './release.js'
import { LINGER_CHECK_MS, lingerMs } from './linger.js'
import { REQUEST_BYTES, type Request, RequestPlanner } from './request.js'
import { ForwardWorkers, type OpenReader } from './workers.js'

const TOO_LARGE = /too large|MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/i
/** The read workers stop after this long without a request to read (nothing buffered, or all of it held). */
const WORKERS_IDLE_MS = 10_000

/** What "Drain now" did: readings Kafka acknowledged, or why none were sent. */
export interface DrainResult {
  /** sent; empty (nothing buffered); paused; down (the attempt failed); held (by the uplink budget); pending (no answer yet); unconfigured. */
  outcome: 'sent' | 'empty' | 'paused' | 'down' | 'held' | 'pending' | 'unconfigured'
  sent: number
  backlog: number
  outageSince: string | null
  cause: string | null
}

export interface ForwarderOptions {
  gatewayId: string
  buffer: ReadingBuffer
  counters: Counters
  link: Uplinker | null
  batch: Config['batch']
  uplink: Config['uplink']
  log: Logger
  /** Priority classes (default: alarm > event > telemetry). */
  classes?: PriorityClasses
  /** Uplink budget; null or disabled = no gating. */
  budget?: UplinkBudget | null
  /** Ledger control records (null: none are sent). */
  ledger?: LedgerEmitter | null
  /**
   * Starts a read worker (read-thread.ts): `read` reads and encodes requests off the broker's thread
   * (absent, or failed: on this thread); `gzip` compresses them (absent, or failed: on libuv's pool).
   */
  openReader?: OpenReader
}

export class Forwarder {
  readonly uplink: Uplink
  private backoff: Backoff
  private stopped = false
  private paused = false
  private drainRequested = false
  private wakeup: (() => void) | null = null
  private wakeOnCommit = false
  private running: Promise<void> = Promise.resolve()
  private lastProbeMs = 0
  private readonly workers: ForwardWorkers
  private requestBytes = REQUEST_BYTES
  private classes: PriorityClasses
  private budget: UplinkBudget | null
  /** Budget bytes of the request in flight, counted as spent while the next one is planned. */
  private inFlightBytes = 0
  /** drainNow callers waiting for the outcome of the next send or probe. */
  private readonly attempts = new Attempts()
  private readonly planner: RequestPlanner
  /** A request being read for a send that failed: it finishes before the read workers may stop. */
  private abandoned: Promise<unknown> | null = null
  private requestsRead = 0
  private lastReadMs = 0

  constructor(private readonly o: ForwarderOptions) {
    this.classes = o.classes ?? new PriorityClasses({})
    this.budget = o.budget?.enabled === true ? o.budget : null
    this.uplink = new Uplink(o.link !== null, o.uplink.probeIntervalMs * 2 + 1000)
    this.backoff = new Backoff(o.uplink.backoffMinMs, o.uplink.backoffMaxMs)
    // What was buffered before this start is backlog; the live lane starts after it.
    this.workers = new ForwardWorkers(o.openReader, o.buffer.lanes.reads)
    this.planner = new RequestPlanner(spec => this.workers.read(spec), o.buffer.writer.lastSeq())
    o.buffer.writer.onCommit(() => {
      if (this.wakeOnCommit) this.wakeup?.()
    })
  }

  start(): void {
    if (this.o.link === null) return
    this.running = this.loop().catch(err => this.o.log.fatal({ err }, 'forwarder loop died'))
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.wakeup?.()
    await this.running
    await this.stopWorkers()
    // A last ledger record, so a clean stop leaves every released seq accounted for in Kafka.
    if (this.o.link !== null && !this.paused && this.uplink.state === 'connected') await this.sendLedger(true)
    await this.o.link?.close()
  }

  pause(): void {
    this.paused = true
    this.uplink.pause(true)
  }

  resume(): void {
    this.paused = false
    this.uplink.pause(false)
    this.wakeup?.()
  }

  /**
   * Live reconfiguration (remote configuration): new batching and uplink settings, and a new Kafka
   * link when its settings changed. Buffered readings stay where they are; the old link is closed
   * (by its owner's rules: see src/remote-config/link.ts) and the loop goes on over the new one.
   */
  reconfigure(next: {
    link?: Uplinker
    batch: Config['batch']
    uplink: Config['uplink']
    /** New priority classes and uplink budget (aggregation settings), when they changed. */
    classes?: PriorityClasses
    budget?: UplinkBudget | null
  }): void {
    if (next.classes !== undefined) this.classes = next.classes
    if (next.budget !== undefined) this.budget = next.budget?.enabled === true ? next.budget : null
    this.o.batch = next.batch
    this.o.uplink = next.uplink
    if (this.o.ledger) this.o.ledger.intervalMs = next.batch.ledgerIntervalMs
    this.backoff = new Backoff(next.uplink.backoffMinMs, next.uplink.backoffMaxMs)
    const old = this.o.link
    if (next.link !== undefined && next.link !== old) {
      this.o.link = next.link
      this.requestBytes = REQUEST_BYTES
      void old
        ?.close()
        .catch((err: unknown) => this.o.log.warn({ err: describe(err) }, 'closing the previous uplink failed'))
      if (old === null) this.start()
    }
    this.wakeup?.()
  }

  /**
   * Send what is buffered now, without waiting for linger or backoff, and say what happened:
   * how many readings Kafka acknowledged within `waitMs`, or why nothing was sent.
   */
  async drainNow(waitMs = 5_000): Promise<DrainResult> {
    const { buffer, counters } = this.o
    const sentSoFar = (): number => counters.forwarded + counters.forwardedRollups
    const result = (outcome: DrainResult['outcome'], sent = 0): DrainResult => {
      const since = this.uplink.outageSinceMs()
      return {
        outcome,
        sent,
        backlog: buffer.usage.usageTotal().readings,
        outageSince: since === null ? null : new Date(since).toISOString(),
        cause: uplinkCause(this.uplink.lastError)
      }
    }
    if (this.o.link === null) return result('unconfigured')
    if (this.paused) return result('paused')
    if (buffer.usage.usageTotal().readings === 0) return result('empty')
    const before = sentSoFar()
    this.drainRequested = true
    this.backoff.reset()
    const attempt = this.attempts.next(waitMs)
    this.wakeup?.()
    const ok = await attempt
    const sent = sentSoFar() - before
    if (sent > 0) return result('sent', sent)
    if (ok === false || this.uplink.link === 'down') return result('down')
    return result(ok === null ? 'pending' : 'held')
  }

  async testUplink(): Promise<{ ok: boolean; error?: string }> {
    if (this.o.link === null) return { ok: false, error: 'no uplink configured (kafka.brokers is empty)' }
    try {
      await this.o.link.probe()
      this.uplink.succeeded()
      return { ok: true }
    } catch (err) {
      this.uplink.failed(describe(err))
      return { ok: false, error: describe(err) }
    }
  }

  /** For /metrics: produce requests read so far, and read workers running now. */
  work(): { requestsRead: number; readWorkers: number } {
    return { requestsRead: this.requestsRead, readWorkers: this.workers.count }
  }

  view(): UplinkView {
    return this.uplink.view(this.o.buffer.usage.usageTotal().readings)
  }

  private async loop(): Promise<void> {
    const { buffer } = this.o
    let next: Request | null = null
    /** The last acknowledged request's release (null: none, or it finished); it rejects if it failed. */
    let releasing: Promise<void> | null = null
    while (!this.stopped) {
      // A request planned from scratch (nothing prepared), or a ledger record, starts from what the buffer
      // still holds: the release before it must have finished.
      if (next === null && releasing !== null) {
        await releasing
        releasing = null
      }
      if (this.paused) {
        next = null
        await this.sleep(60_000, false)
        continue
      }
      // Between requests (nothing in flight): account for the settled seqs when a ledger record is due.
      if (next === null && this.o.ledger && this.o.ledger.dueInMs(Date.now()) === 0) {
        if (!(await this.sendLedger(false))) continue
      }
      if (next === null) {
        const backlog = buffer.usage.usageTotal().readings
        if (backlog === 0) {
          await this.idle()
          continue
        }
        const waitMs = this.drainRequested ? 0 : lingerMs(buffer, this.o.batch, backlog)
        if (waitMs > 0) {
          // Looked at again every LINGER_CHECK_MS: the readings may reach their share per device sooner.
          await this.sleep(Math.min(waitMs, LINGER_CHECK_MS), false)
          continue
        }
        this.drainRequested = false
      }
      if (next === null && this.uplink.link !== 'connected' && !(await this.reachable())) continue
      this.workers.start()
      const req: Request | null = next ?? (await this.prepare(null).catch((err: unknown) => this.readFailed(err)))
      next = null
      if (req === null) {
        await this.sleep(this.backoff.next(), false)
        continue
      }
      // Everything buffered is held by the uplink budget: wait (a commit, a probe interval) and look again.
      if (req.count === 0) {
        await this.idle()
        continue
      }
      const sending = this.o.link!.send(req.messages, KAFKA_COMPRESSION)
      this.inFlightBytes = req.bytes
      // While Kafka works on this request, read and encode the next one (pipelining). It
      // reads past this request's rows in each lane and stops short of its live rows.
      const preparing: Promise<Request | null> | null = req.full
        ? this.prepare(req).catch((err: unknown) => this.readFailed(err))
        : null
      try {
        await sending
      } catch (err) {
        next = null
        this.abandoned = preparing
        this.inFlightBytes = 0
        if (TOO_LARGE.test(describe(err))) this.requestBytes = Math.max(this.o.batch.maxBytes, this.requestBytes / 2)
        await this.retryLater(err, 'uplink send failed')
        continue
      }
      this.budget?.spend(req.bytes)
      this.inFlightBytes = 0
      this.uplink.succeeded(req.count)
      this.backoff.reset()
      this.lastProbeMs = Date.now()
      next = preparing === null ? null : await preparing
      // Kafka has it: its readings are deleted, with more than one core while the next request is sent (the
      // deletes took as long as a read, with the link idle), one release at a time, in order. A crash before
      // a release ends sends its readings again, as a crash between Kafka's ack and the delete always did.
      releasing = this.releaseAfter(releasing, req)
      // Awaited further on, where a failure ends the loop: marked handled now, so that it is not an
      // unhandled rejection meanwhile.
      releasing.catch(() => {})
      if (!OVERLAP_RELEASES) {
        await releasing
        releasing = null
      }
    }
    await releasing
  }

  /** Release `req` once `prev` (the release before it, or null) has finished; rejects if either failed. */
  private async releaseAfter(prev: Promise<void> | null, req: Request): Promise<void> {
    await releaseRequest(prev, req, this.o.buffer, this.o.counters)
    // drainNow counts what was forwarded: it hears of the attempt once the readings are released.
    this.attempts.ended(true)
  }

  /** The next produce request (request.ts), after what `prev` (the request in flight) carries. */
  private prepare(prev: Request | null): Promise<Request> {
    this.requestsRead++
    this.lastReadMs = Date.now()
    return this.planner.plan(prev, {
      buffer: this.o.buffer,
      batch: this.o.batch,
      gatewayId: this.o.gatewayId,
      classes: this.classes,
      budget: this.budget,
      inFlightBytes: this.inFlightBytes,
      requestBytes: this.requestBytes
    })
  }

  private readFailed(err: unknown): null {
    this.o.log.error({ code: 'HF_ERR_FORWARD_READ', err: describe(err) }, 'reading the buffer for a request failed')
    return null
  }

  /** Per class, what the budget does to it now (for /api/status). */
  classStates(): ClassStateView[] {
    return classStates(this.classes, this.budget)
  }

  /** Send a ledger record (README "Control records"); false when the send failed (after backoff). */
  private async sendLedger(final: boolean): Promise<boolean> {
    const emitter = this.o.ledger
    if (!emitter) return true
    const p = emitter.prepare(Date.now())
    if (p === null) return true
    try {
      await this.o.link!.send(
        [{ key: p.message.key, value: p.message.value, headers: p.message.headers }],
        KAFKA_COMPRESSION
      )
    } catch (err) {
      this.uplink.failed(describe(err))
      if (final) return false
      const delay = this.backoff.next()
      this.o.log.warn(
        { code: 'HF_ERR_UPLINK', err: describe(err), state: this.uplink.state, retryInMs: delay },
        'ledger record send failed'
      )
      await this.sleep(delay, false)
      return false
    }
    emitter.acked(p, Date.now())
    this.uplink.succeeded()
    return true
  }

  /**
   * Before a request is read for a link not known to work (at start, after a failure): a metadata probe.
   * While the link is down, each retry after the backoff is a connection attempt, not a request read,
   * encoded and compressed for nothing, and the read workers stop. False: it failed (the delay is over).
   */
  private async reachable(): Promise<boolean> {
    try {
      await this.o.link!.probe()
    } catch (err) {
      await this.stopWorkers()
      await this.retryLater(err, 'uplink unreachable: nothing is read for it until a probe succeeds')
      return false
    }
    // Not a send: the backoff goes on until one succeeds (a link that answers probes may refuse produces).
    this.uplink.succeeded()
    this.lastProbeMs = Date.now()
    return true
  }

  /** A send or a probe failed: recorded, logged with its code, and the backoff's delay waited out. */
  private async retryLater(err: unknown, message: string): Promise<void> {
    this.uplink.failed(describe(err))
    this.attempts.ended(false)
    const delay = this.backoff.next()
    this.o.log.warn(
      {
        code: err instanceof HoldfastError ? err.code : 'HF_ERR_UPLINK',
        err: describe(err),
        state: this.uplink.state,
        retryInMs: delay,
        backlog: this.o.buffer.usage.usageTotal().readings
      },
      message
    )
    await this.sleep(delay, false)
  }

  private async stopWorkers(): Promise<void> {
    await this.abandoned
    this.abandoned = null
    await this.workers.stop()
  }

  /** Nothing to send: keep the state honest with a metadata probe now and then. */
  private async idle(): Promise<void> {
    const now = Date.now()
    if (now - this.lastProbeMs >= this.o.uplink.probeIntervalMs || this.uplink.link !== 'connected') {
      this.lastProbeMs = now
      try {
        await this.o.link!.probe()
        this.uplink.succeeded()
        this.attempts.ended(true)
        this.backoff.reset()
      } catch (err) {
        this.uplink.failed(describe(err))
        this.attempts.ended(false)
        await this.stopWorkers()
        await this.sleep(this.backoff.next())
        return
      }
    }
    // Nothing read for a while: the read workers stop, and with them what a drain left in their heaps
    // (an isolate that waits for work collects no garbage). The next request starts them again.
    const workersIdleIn = this.lastReadMs + WORKERS_IDLE_MS - Date.now()
    if (this.workers.count > 0 && workersIdleIn <= 0) await this.stopWorkers()
    const ledgerIn = this.o.ledger?.dueInMs(Date.now()) ?? null
    await this.sleep(
      Math.min(
        this.o.uplink.probeIntervalMs,
        ledgerIn ?? Number.POSITIVE_INFINITY,
        this.workers.count > 0 ? Math.max(workersIdleIn, 0) : Number.POSITIVE_INFINITY
      )
    )
  }

  /** Sleep up to ms; stop, drainNow and resume cut it short, and so does a commit when wakeOnCommit. */
  private async sleep(ms: number, wakeOnCommit = true): Promise<void> {
    if (this.stopped) return
    this.wakeOnCommit = wakeOnCommit
    await new Promise<void>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        this.wakeup = null
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.wakeup = done
    })
  }
}
