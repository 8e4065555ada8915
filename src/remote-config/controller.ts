/**
 * Remote configuration, end to end: at start, the configuration in force is the applied document
 * (re-verified) or the local one; while running, documents from the config topic are verified,
 * checked, applied live, then confirmed by the uplink or rolled back — and every outcome is
 * reported on the status topic.
 *
 * Which document counts: this gateway's own key if it holds a signed document addressed to it,
 * otherwise the fleet default `*`. A document is applied only if it is signed by a trusted key,
 * addressed to this gateway (or `*` under `*`), newer than every version applied before (rolled-
 * back ones included) and valid as a whole; otherwise it is rejected with a reason.
 *
 * Commit-confirmed: after applying, the uplink has the document's confirmWindowS to answer a
 * metadata request over the new settings. If it does not, the previous confirmed configuration is
 * put back by itself. A restart while a document awaits confirmation also puts the previous one
 * back (a document that crashes the gateway cannot keep it in a restart loop).
 */
import { createHash } from 'node:crypto'
import type { Config } from '../config/schema.js'
import type { FieldError } from '../config/load.js'
import { configError } from '../config/load.js'
import { isHoldfastError } from '../errors.js'
import type { Logger } from '../log.js'
import { differs, effectiveConfig, readLocalInputs, type LiveParts, type LocalInputs } from './apply.js'
import { checkDocument, FLEET_KEY, type ConfigDocument } from './document.js'
import type { ConfigHolder, ConfigInfo } from './holder.js'
import { describe, sleep } from '../kafka/client.js'
import { Reporter } from './reporter.js'
import { readState, statePath, writeState, type RemoteState, type StoredDocument } from './store.js'
import { loadTrustedKeys, type SignatureRejectReason, verifyMessage, type TrustedKey } from './verify.js'
import { ConfigWatcher } from './watcher.js'

export interface RemoteOptions {
  /** The configuration from the local file, environment and flags. */
  local: Readonly<Config>
  localSource: string
  flags: Record<string, string | true>
  env: NodeJS.ProcessEnv
  log: Logger
}

export interface RunningParts {
  parts: LiveParts
  holder: ConfigHolder
  /** A metadata request over the uplink as configured now (the forwarder's "Test uplink"). */
  testUplink: () => Promise<{ ok: boolean; error?: string }>
  heartbeat: () => Record<string, unknown>
}

/** Why a pushed document was not applied: its signature, or its content for this gateway. */
export type DocumentRejectReason = SignatureRejectReason | 'invalid' | 'wrong_gateway' | 'not_newer'

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const versionOf = (doc: unknown): number | null => {
  const v = (doc as { version?: unknown } | undefined)?.version
  return typeof v === 'number' ? v : null
}
/** How often, within the confirmation window, the uplink is asked. */
const CONFIRM_PROBE_MS = 1000

export class RemoteConfig {
  /** The configuration to start with: the applied document's, or the local one. */
  readonly bootConfig: Readonly<Config>
  private readonly gatewayId: string
  private readonly file: string
  private readonly keys: TrustedKey[]
  private readonly inputs: LocalInputs
  private readonly reporter: Reporter
  private state: RemoteState
  private watcher: ConfigWatcher | null = null
  private run: RunningParts | null = null
  private queue: Promise<void> = Promise.resolve()
  private latest = new Map<string, Buffer | null>()
  /** This gateway's key holds a document signed by a trusted key and addressed to it: the fleet default does not apply. */
  private ownKeyHeld = false
  private stopped = false

  constructor(private readonly o: RemoteOptions) {
    const { local, log } = o
    this.gatewayId = local.gatewayId
    this.keys = loadTrustedKeys(local.remote)
    this.inputs = readLocalInputs(o.flags, o.env)
    this.file = statePath(local.dataDir)
    this.state = readState(this.file)
    this.reporter = new Reporter({
      gatewayId: local.gatewayId,
      topic: local.remote.statusTopic,
      dataDir: local.dataDir,
      heartbeatIntervalMs: local.remote.heartbeatIntervalMs,
      heartbeat: () => ({ ...(this.run?.heartbeat() ?? {}), config: this.configSummary() }),
      log
    })

    const s = this.state
    if (s.pending !== null && s.applied !== null) {
      // Stopped or crashed before the document was confirmed: go back to the confirmed one.
      const bad = s.applied
      this.state = { ...s, applied: s.previous, previous: null, pending: null }
      writeState(this.file, this.state)
      this.reporter.event('rolled-back', {
        version: bad.version,
        key: bad.key,
        restoredVersion: this.state.applied?.version ?? null,
        reason: 'restarted_unconfirmed',
        message: `the gateway restarted before version ${bad.version} was confirmed; version ${this.state.applied?.version ?? '(local configuration)'} restored`
      })
      log.warn(
        { code: 'HF_ERR_REMOTE_ROLLBACK', version: bad.version, restored: this.state.applied?.version ?? null },
        'restarted before the remote configuration was confirmed: previous configuration restored'
      )
    }
    let boot = local
    if (this.state.applied !== null) {
      try {
        boot = this.configOf(this.state.applied)
        log.info(
          { version: this.state.applied.version, key: this.state.applied.key },
          'starting with the applied remote configuration'
        )
      } catch (err) {
        const bad = this.state.applied
        this.state = { ...this.state, applied: null }
        writeState(this.file, this.state)
        const { message, errors } = explain(err)
        this.reporter.event('rejected', {
          version: bad.version,
          key: bad.key,
          reason: 'invalid',
          message: `the stored document no longer applies (${message}); starting with the local configuration`,
          errors
        })
        log.error(
          { code: 'HF_ERR_REMOTE_REJECTED', version: bad.version, err: message },
          'stored remote configuration no longer applies; local configuration used'
        )
      }
    }
    if (boot.kafka.brokers.length === 0) {
      throw configError([
        {
          field: 'kafka.brokers',
          source: 'config',
          message: 'remote.enabled needs the uplink: the config and status topics are on its Kafka cluster'
        }
      ])
    }
    this.bootConfig = boot
  }

  /** Where the configuration in force came from, for the status page. */
  info(): ConfigInfo {
    const a = this.state.applied
    if (a === null) return { source: this.o.localSource, version: null }
    return {
      source: `remote document (key ${a.key}${this.state.pending !== null ? ', awaiting confirmation' : ''})`,
      version: a.version
    }
  }

  start(run: RunningParts): void {
    this.run = run
    const kafka = run.holder.current.kafka
    this.reporter.use(kafka)
    this.watcher = new ConfigWatcher(
      {
        gatewayId: this.gatewayId,
        topic: this.o.local.remote.configTopic,
        log: this.o.log,
        caughtUp: latest => this.enqueue(() => this.caughtUp(latest)),
        message: (key, value) => this.enqueue(() => this.live(key, value))
      },
      kafka
    )
    this.watcher.start()
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.watcher?.stop()
    await this.queue
    await this.reporter.stop()
  }

  private enqueue(fn: () => void | Promise<void>): void {
    this.queue = this.queue
      .then(fn)
      .catch(err => this.o.log.error({ code: 'HF_ERR_REMOTE', err: describe(err) }, 'remote configuration step failed'))
  }

  private configSummary(): Record<string, unknown> {
    const a = this.state.applied
    return {
      version: a?.version ?? null,
      key: a?.key ?? null,
      state: a === null ? 'local' : this.state.pending !== null ? 'pending' : 'confirmed',
      floor: this.state.floor
    }
  }

  /** The effective configuration of a stored (signed) document, verified again. */
  private configOf(d: StoredDocument): Readonly<Config> {
    const v = verifyMessage(Buffer.from(d.wire, 'utf8'), this.keys)
    if (!v.ok) throw new Error(`${v.reason}: ${v.message}`)
    const { doc, errors } = checkDocument(v.document)
    if (doc === null) throw configError(errors)
    return effectiveConfig(this.inputs, doc.config).config
  }

  /** Does `value` hold a document signed by a trusted key and addressed to `key`? */
  private claims(key: string, value: Buffer): boolean {
    const v = verifyMessage(value, this.keys)
    return v.ok && (v.document as { gatewayId?: unknown }).gatewayId === key
  }

  private caughtUp(latest: Map<string, Buffer | null>): void {
    this.latest = new Map(latest)
    const own = latest.get(this.gatewayId) ?? null
    const fleet = latest.get(FLEET_KEY) ?? null
    // After a restart the topic is read again: what was handled before is not handled twice.
    const fresh = (key: string, v: Buffer): boolean => this.state.seen[key] !== sha256(v)
    this.ownKeyHeld =
      own !== null &&
      (fresh(this.gatewayId, own) ? this.consider(this.gatewayId, own) : this.claims(this.gatewayId, own))
    if (!this.ownKeyHeld && fleet !== null && fresh(FLEET_KEY, fleet)) this.consider(FLEET_KEY, fleet)
  }

  private live(key: string, value: Buffer | null): void {
    this.latest.set(key, value)
    if (key === this.gatewayId) {
      if (value !== null) {
        this.ownKeyHeld = this.consider(key, value)
        if (this.ownKeyHeld) return
      } else {
        this.o.log.info({ key }, "this gateway's document was deleted from the config topic; the fleet default applies")
      }
      this.ownKeyHeld = false
      const fleet = this.latest.get(FLEET_KEY) ?? null
      if (fleet !== null && this.state.seen[FLEET_KEY] !== sha256(fleet)) this.consider(FLEET_KEY, fleet)
      return
    }
    if (value === null) return
    if (this.ownKeyHeld) {
      this.o.log.info(
        { version: versionOf(safeParse(value)?.document) },
        'fleet default ignored: this gateway has its own document'
      )
      return
    }
    this.consider(key, value)
  }

  /** Verify, check and apply one document; rejections are reported. True when it is a signed document addressed to `key`. */
  private consider(key: string, value: Buffer): boolean {
    const { log } = this.o
    this.state.seen[key] = sha256(value)
    const v = verifyMessage(value, this.keys)
    if (!v.ok) {
      this.reject(key, versionOf(v.document), v.reason, v.message)
      return false
    }
    const { doc, errors } = checkDocument(v.document)
    if (doc === null) {
      this.reject(key, versionOf(v.document), 'invalid', 'the document envelope is invalid', errors)
      return false
    }
    if (doc.gatewayId !== key) {
      this.reject(
        key,
        doc.version,
        'wrong_gateway',
        `the document is addressed to ${doc.gatewayId === FLEET_KEY ? 'the fleet (*)' : `gateway ${doc.gatewayId}`} but was published under key ${key}; this gateway is ${this.gatewayId}`
      )
      return false
    }
    if (doc.version <= this.state.floor) {
      this.reject(
        key,
        doc.version,
        'not_newer',
        `version ${doc.version} is not newer than version ${this.state.floor}, the newest applied so far (no replay, no downgrade)`
      )
      return true
    }
    const run = this.run!
    let next: Readonly<Config>
    let overridden: string[]
    let swap: () => void
    try {
      ;({ config: next, overridden } = effectiveConfig(this.inputs, doc.config))
      swap = run.parts.prepare(next, run.holder.current)
    } catch (err) {
      const { message, errors } = explain(err)
      this.reject(key, doc.version, 'invalid', message, errors)
      return true
    }
    this.commit(key, doc, value, v.keyId, next, overridden, swap)
    log.info(
      { version: doc.version, key, overridden, confirmWindowS: doc.confirmWindowS },
      'remote configuration applied; awaiting uplink confirmation'
    )
    return true
  }

  private commit(
    key: string,
    doc: ConfigDocument,
    value: Buffer,
    keyId: string,
    next: Readonly<Config>,
    overridden: string[],
    swap: () => void
  ): void {
    const run = this.run!
    const prev = run.holder.current
    const now = Date.now()
    const stored: StoredDocument = {
      key,
      version: doc.version,
      wire: value.toString('utf8'),
      keyId,
      appliedAt: new Date(now).toISOString()
    }
    // While one document awaits confirmation, the one to go back to stays the last confirmed one.
    const previous = this.state.pending !== null ? this.state.previous : this.state.applied
    const deadline = now + doc.confirmWindowS * 1000
    // On disk first: a crash between here and the swap restarts on the previous configuration.
    this.state = {
      ...this.state,
      applied: stored,
      previous,
      floor: doc.version,
      pending: { version: doc.version, since: stored.appliedAt, deadline: new Date(deadline).toISOString() }
    }
    writeState(this.file, this.state)
    swap()
    run.holder.set(next, this.info())
    this.reporter.event('applied', {
      version: doc.version,
      key,
      source: key === FLEET_KEY ? 'fleet' : 'gateway',
      keyId,
      confirmWindowS: doc.confirmWindowS,
      previousVersion: previous?.version ?? null,
      overridden,
      changed: changedSections(prev, next),
      comment: doc.comment
    })
    this.follow(prev, next)
    void this.confirm(doc.version, deadline, doc.confirmWindowS)
  }

  /** The watcher and reporter use the uplink's settings: reconnect when they changed. */
  private follow(prev: Readonly<Config>, next: Readonly<Config>): void {
    if (!differs(prev, next, 'kafka')) return
    this.watcher?.restart(next.kafka)
    this.reporter.use(next.kafka)
  }

  /** Ask the uplink until it answers (confirmed) or the window ends (rolled back). */
  private async confirm(version: number, deadline: number, windowS: number): Promise<void> {
    const run = this.run!
    let lastError = 'no answer yet'
    while (!this.stopped && this.state.pending?.version === version) {
      const left = deadline - Date.now()
      if (left <= 0) {
        this.enqueue(() =>
          this.rollback(
            version,
            `the uplink was not reachable within ${windowS} s of applying version ${version}: ${lastError}`
          )
        )
        return
      }
      const started = Date.now()
      const r = await Promise.race([run.testUplink(), sleep(left).then(() => null)])
      if (r?.ok === true) {
        this.enqueue(() => this.confirmed(version))
        return
      }
      if (r !== null) lastError = r.error ?? 'failed'
      await sleep(Math.max(0, Math.min(CONFIRM_PROBE_MS - (Date.now() - started), deadline - Date.now())))
    }
  }

  private confirmed(version: number): void {
    if (this.state.pending?.version !== version) return
    const since = Date.parse(this.state.pending.since)
    this.state = { ...this.state, pending: null, previous: null }
    writeState(this.file, this.state)
    this.run!.holder.set(this.run!.holder.current, this.info())
    this.reporter.event('confirmed', { version, key: this.state.applied?.key, afterMs: Date.now() - since })
    this.o.log.info({ version }, 'remote configuration confirmed: the uplink answers')
  }

  private rollback(version: number, message: string): void {
    if (this.state.pending?.version !== version) return
    const run = this.run!
    const bad = this.state.applied!
    const target = this.state.previous
    let restore = this.o.local
    if (target !== null) {
      try {
        restore = this.configOf(target)
      } catch (err) {
        this.o.log.error(
          { code: 'HF_ERR_REMOTE_ROLLBACK', err: describe(err) },
          'previous document no longer applies; restoring the local configuration'
        )
      }
    }
    const prev = run.holder.current
    const swap = run.parts.prepare(restore, prev)
    this.state = { ...this.state, applied: restore === this.o.local ? null : target, previous: null, pending: null }
    writeState(this.file, this.state)
    swap()
    run.holder.set(restore, this.info())
    this.reporter.event('rolled-back', {
      version,
      key: bad.key,
      restoredVersion: this.state.applied?.version ?? null,
      reason: 'uplink_unconfirmed',
      message
    })
    this.o.log.error(
      { code: 'HF_ERR_REMOTE_ROLLBACK', version, restored: this.state.applied?.version ?? null, reason: message },
      'remote configuration rolled back'
    )
    this.follow(prev, restore)
  }

  private reject(
    key: string,
    version: number | null,
    reason: DocumentRejectReason,
    message: string,
    errors?: FieldError[]
  ): void {
    writeState(this.file, this.state)
    this.reporter.event('rejected', {
      version,
      key,
      reason,
      message,
      errors,
      appliedVersion: this.state.applied?.version ?? null
    })
    this.o.log.warn(
      { code: 'HF_ERR_REMOTE_REJECTED', key, version, reason, err: message, errors },
      'remote configuration rejected'
    )
  }
}

function safeParse(b: Buffer): { document?: unknown } | null {
  try {
    return JSON.parse(b.toString('utf8')) as { document?: unknown }
  } catch {
    return null
  }
}

function explain(err: unknown): { message: string; errors?: FieldError[] } {
  if (isHoldfastError(err, 'HF_ERR_CONFIG_INVALID')) {
    const errors = err.details.errors as FieldError[]
    return { message: `invalid configuration: ${errors.map(e => `${e.field}: ${e.message}`).join('; ')}`, errors }
  }
  return { message: describe(err) }
}

/** Top-level sections that differ, for the applied report. */
function changedSections(a: Readonly<Config>, b: Readonly<Config>): string[] {
  return Object.keys(b).filter(k => differs(a, b, k))
}

export function openRemoteConfig(o: RemoteOptions): RemoteConfig {
  return new RemoteConfig(o)
}
