/**
 * Remote configuration, end to end: at start, the configuration in force is the one its stored
 * layers give (each re-verified) or the local one; while running, documents from the config
 * topic are verified, checked, applied live, then confirmed by the uplink or rolled back — and
 * every document ends in one outcome reported on the status topic.
 *
 * Layers (layers.ts), lowest first: the fleet default `*`, the gateway's groups in the order of
 * `remote.groups`, its own id. Each has its own version sequence (no replay, no downgrade per
 * layer); a document rejected or rolled back on one layer leaves the others alone. Deleting a
 * layer's key (a tombstone) removes that layer, applied and confirmed like a document.
 *
 * One change at a time: while a change awaits its confirmation, later messages wait (the latest
 * per key) and are handled once it is confirmed or rolled back, so each is judged on its own.
 *
 * Commit-confirmed: after applying, the uplink has the document's confirmWindowS to answer a
 * metadata request over the new settings. If it does not, the previous confirmed layers are put
 * back by themselves. A restart while a change awaits confirmation also puts them back (a
 * document that crashes the gateway cannot keep it in a restart loop). The config topic reader
 * and the status reporter stay on the last confirmed Kafka settings during the window, so the
 * `applied` event and the pending state are seen while it lasts.
 */
import { createHash } from 'node:crypto'
import { setImmediate as turn } from 'node:timers/promises'
import type { Config } from '../config/schema.js'
import { configError } from '../config/load.js'
import type { Logger } from '../log.js'
import { isHoldfastError } from '../errors.js'
import { describe } from '../kafka/client.js'
import { awaitUplink } from './confirm.js'
import { readLocalInputs, type LiveParts } from './apply.js'
import { describeKey } from './document.js'
import type { ConfigHolder, ConfigInfo } from './holder.js'
import { layerOrder } from './layers.js'
import type { LayersResult, Plan } from './plan.js'
import { Planner } from './plan-thread.js'
import { explain, layerList, type Outcome, type DocumentRejectReason, safeVersion, sourceOf } from './outcome.js'
import { Reporter } from './reporter.js'
import { LayerState } from './layer-state.js'
import { statePath, type StoredDocument } from './store.js'
import { loadTrustedKeys, type TrustedKey } from './verify.js'
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

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const TOMBSTONE = 'tombstone'

export class RemoteConfig {
  /** The configuration to start with: what the stored layers give, or the local one. */
  readonly bootConfig: Readonly<Config>
  private readonly gatewayId: string
  /** Layer keys, lowest first. */
  private readonly order: string[]
  private readonly keys: TrustedKey[]
  private readonly reporter: Reporter
  private readonly layers: LayerState
  /** Works out what a message would do, on a worker thread (plan-thread.ts). */
  private readonly planner: Planner
  private overridden: string[] = []
  private watcher: ConfigWatcher | null = null
  /** The Kafka settings the watcher and reporter use: the last confirmed ones. */
  private followed: Config['kafka'] | null = null
  private run: RunningParts | null = null
  private queue: Promise<void> = Promise.resolve()
  /** Messages not handled yet (the latest per key), in arrival order. */
  private waiting = new Map<string, Buffer | null>()
  private lastOutcome: Outcome | null = null
  private stopped = false

  constructor(private readonly o: RemoteOptions) {
    const { local, log } = o
    this.gatewayId = local.gatewayId
    this.order = layerOrder(local.gatewayId, local.remote.groups)
    this.keys = loadTrustedKeys(local.remote)
    const inputs = readLocalInputs(o.flags, o.env)
    this.layers = new LayerState(statePath(local.dataDir), local.gatewayId, this.order, this.keys, inputs)
    this.planner = new Planner({ gatewayId: local.gatewayId, order: this.order, keys: this.keys, inputs }, log, {
      timeoutMs: local.remote.planTimeoutMs,
      heapMb: local.remote.planHeapMb
    })
    this.reporter = new Reporter({
      gatewayId: local.gatewayId,
      topic: local.remote.statusTopic,
      dataDir: local.dataDir,
      heartbeatIntervalMs: local.remote.heartbeatIntervalMs,
      heartbeat: () => ({ ...(this.run?.heartbeat() ?? {}), config: this.configSummary() }),
      log
    })
    const s = this.layers.state
    if (s.pending !== null) {
      // Stopped or crashed before the change was confirmed: go back to the confirmed layers.
      const bad = s.pending
      this.layers.state = { ...s, layers: s.previous ?? {}, previous: null, pending: null }
      this.layers.save()
      this.report('rolled-back', {
        version: bad.version,
        key: bad.key,
        restoredVersion: this.layers.top()?.version ?? null,
        layers: layerList(this.layers.inForce()),
        reason: 'restarted_unconfirmed',
        message: `the gateway restarted before ${changeName(bad.key, bad.version)} was confirmed; the confirmed configuration was restored`
      })
      log.warn(
        { code: 'HF_ERR_REMOTE_ROLLBACK', key: bad.key, version: bad.version },
        'restarted before the remote configuration was confirmed: previous configuration restored'
      )
    }
    let boot = local
    if (this.layers.inForce().length > 0) {
      try {
        boot = this.configOfStored(this.layers.state.layers)
        log.info({ layers: layerList(this.layers.inForce()) }, 'starting with the applied remote configuration')
      } catch (err) {
        const { message, errors } = explain(err)
        for (const d of this.layers.inForce())
          this.report('rejected', {
            version: d.version,
            key: d.key,
            reason: 'invalid',
            message: `the stored layers no longer apply (${message}); starting with the local configuration`,
            errors
          })
        this.layers.state = { ...this.layers.state, layers: {} }
        this.layers.trees.clear()
        this.layers.save()
        log.error(
          { code: 'HF_ERR_REMOTE_REJECTED', err: message },
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
    // From here on plans are worked out on their own thread, from the stored documents.
    this.layers.trees.clear()
  }

  /** Where the configuration in force came from, for the status page. */
  info(): ConfigInfo {
    const top = this.layers.top()
    if (top === null) return { source: this.o.localSource, version: null }
    const awaiting = this.layers.state.pending !== null ? ', awaiting confirmation' : ''
    const layers = this.layers
      .inForce()
      .map(d => `${d.key} v${d.version}`)
      .join(' < ')
    return { source: `remote document (key ${top.key}${awaiting}; layers ${layers})`, version: top.version }
  }

  start(run: RunningParts): void {
    this.run = run
    const kafka = run.holder.current.kafka
    this.followed = kafka
    this.reporter.use(kafka)
    const relevant = new Set(this.order)
    this.watcher = new ConfigWatcher(
      {
        gatewayId: this.gatewayId,
        topic: this.o.local.remote.configTopic,
        relevant: key => relevant.has(key),
        log: this.o.log,
        caughtUp: latest => this.enqueue(() => this.caughtUp(latest)),
        message: (key, value) => this.enqueue(() => this.arrived(key, value))
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

  /** Every step runs here, one at a time: a step that awaits (a plan, a save) holds the next ones back. */
  private enqueue(fn: () => void | Promise<void>): void {
    this.queue = this.queue
      .then(fn)
      .catch(err => this.o.log.error({ code: 'HF_ERR_REMOTE', err: describe(err) }, 'remote configuration step failed'))
  }

  private configSummary(): Record<string, unknown> {
    const top = this.layers.top()
    const p = this.layers.state.pending
    return {
      version: top?.version ?? null,
      key: top?.key ?? null,
      state: p !== null ? 'pending' : top === null ? 'local' : 'confirmed',
      layers: layerList(this.layers.inForce()),
      groups: this.o.local.remote.groups,
      pending: p === null ? null : { key: p.key, version: p.version, deadline: p.deadline },
      overridden: this.overridden,
      lastOutcome: this.lastOutcome
    }
  }

  private configOfStored(stored: Record<string, StoredDocument>): Readonly<Config> {
    const eff = this.layers.effective(stored)
    this.overridden = eff.overridden
    return eff.config
  }

  private async caughtUp(latest: Map<string, Buffer | null>): Promise<void> {
    // Lowest layer first; after a restart, what was handled before is not handled twice.
    for (const key of this.order) {
      if (!latest.has(key)) continue
      const v = latest.get(key) ?? null
      if (this.layers.state.seen[key] !== (v === null ? TOMBSTONE : sha256(v))) this.wait(key, v)
    }
    await this.drain()
  }

  private async arrived(key: string, value: Buffer | null): Promise<void> {
    this.wait(key, value)
    await this.drain()
  }

  private wait(key: string, value: Buffer | null): void {
    const before = this.waiting.get(key)
    // The same message again (the topic re-read after a reconnect): still one outcome for it.
    if (before !== undefined && (before === value || (before !== null && value !== null && before.equals(value))))
      return
    if (before != null) {
      // Replaced before it was handled (a change awaited confirmation): still one outcome for it.
      this.report('ignored', {
        version: safeVersion(before),
        key,
        reason: 'replaced',
        message: `a newer message under key ${key} arrived while an earlier change awaited confirmation; this one was not applied`
      })
    }
    this.waiting.delete(key)
    this.waiting.set(key, value)
  }

  /** Handle waiting messages until one starts a confirmation window. */
  private async drain(): Promise<void> {
    while (this.layers.state.pending === null && !this.stopped && this.waiting.size > 0) {
      const [key, value] = this.waiting.entries().next().value as [string, Buffer | null]
      this.waiting.delete(key)
      await this.handle(key, value)
    }
  }

  private async handle(key: string, value: Buffer | null): Promise<void> {
    this.layers.state.seen[key] = value === null ? TOMBSTONE : sha256(value)
    const { layers, floors } = this.layers.state
    let plan: Plan
    try {
      plan = await this.planner.message({ layers, floors, overridden: this.overridden }, key, value)
    } catch (err) {
      if (!isHoldfastError(err, 'HF_ERR_REMOTE_PLAN')) throw err
      return await this.reject(
        key,
        value === null ? null : safeVersion(value),
        'planning_failed',
        `${err.message}; nothing of it was applied (push it again to retry, on a fresh thread)`
      )
    }
    switch (plan.kind) {
      case 'none':
        return await this.layers.saveAsync()
      case 'reject':
        return await this.reject(key, plan.version, plan.reason, plan.message, plan.errors)
      case 'keep': {
        // Kept as the layer (it applies once the higher one goes), but it changes nothing now.
        const { stored, by, local } = plan
        this.layers.state.layers = { ...this.layers.state.layers, [key]: stored }
        this.layers.state.floors[key] = stored.version
        await this.layers.saveAsync()
        const where = [
          ...(by.length > 0 ? [`by a higher layer (${by.map(describeKey).join(', ')})`] : []),
          ...(local.length > 0 ? [`locally (${local.join(', ')})`] : [])
        ]
        this.report('ignored', {
          version: stored.version,
          key,
          keyId: stored.keyId,
          reason: 'superseded',
          supersededBy: by,
          ...(local.length > 0 ? { overridden: local } : {}),
          message: `every field it sets is set ${where.join(' or ')}; kept, it applies when that layer goes`,
          comment: plan.comment
        })
        return
      }
      case 'apply':
        return await this.change(key, plan)
    }
  }

  /** Apply a planned set of layers (one key changed), or reject it as invalid; opens the confirmation window. */
  private async change(key: string, plan: Extract<Plan, { kind: 'apply' }>): Promise<void> {
    const run = this.run!
    const { stored, config, overridden, windowS } = plan
    const version = stored?.version ?? null
    let swap: () => void
    try {
      swap = run.parts.prepare(config, run.holder.current)
    } catch (err) {
      const { message, errors } = explain(err)
      return await this.reject(key, version, 'invalid', message, errors)
    }
    // The checks above and the save below in separate turns: devices are served between them.
    await turn()
    const now = Date.now()
    const deadline = now + windowS * 1000
    // On disk first: a crash between here and the swap restarts on the previous configuration.
    this.layers.state = {
      ...this.layers.state,
      layers: plan.layers,
      previous: this.layers.state.layers,
      floors: stored !== null ? { ...this.layers.state.floors, [key]: stored.version } : this.layers.state.floors,
      pending: { key, version, since: new Date(now).toISOString(), deadline: new Date(deadline).toISOString() }
    }
    await this.layers.saveAsync()
    swap()
    this.overridden = overridden
    run.holder.set(config, this.info())
    this.report('applied', {
      version,
      key,
      source: sourceOf(key),
      confirmWindowS: windowS,
      previousVersion: this.layers.inForce(this.layers.state.previous ?? {}).at(-1)?.version ?? null,
      layers: layerList(this.layers.inForce()),
      overridden,
      changed: plan.changed,
      ...plan.fields
    })
    this.o.log.info(
      { version, key, overridden, confirmWindowS: windowS },
      'remote configuration applied; awaiting uplink confirmation'
    )
    void this.confirm(key, version, deadline, windowS)
  }

  /** The watcher and reporter follow the confirmed Kafka settings. */
  private follow(next: Readonly<Config>): void {
    if (this.followed === null || JSON.stringify(this.followed) === JSON.stringify(next.kafka)) return
    this.followed = next.kafka
    this.watcher?.restart(next.kafka)
    this.reporter.use(next.kafka)
  }

  /** Ask the uplink until it answers (confirmed) or the window ends (rolled back). */
  private async confirm(key: string, version: number | null, deadline: number, windowS: number): Promise<void> {
    const p = (): boolean =>
      !this.stopped && this.layers.state.pending?.key === key && this.layers.state.pending.version === version
    // Once a probe fails, the rollback's target is planned meanwhile: on a loaded box the planning
    // thread can take seconds to start, and the rollback should not wait for it past the window.
    let target: Promise<LayersResult> | null = null
    const plan = (): void => {
      if (target !== null) return
      target = this.planner.layers(this.layers.state.previous ?? {})
      target.catch(() => {})
    }
    const r = await awaitUplink(this.run!.testUplink, deadline, p, plan)
    if (r === null) return
    if (r.ok) this.enqueue(() => this.confirmed(key, version))
    else
      this.enqueue(() =>
        this.rollback(
          key,
          version,
          `the uplink was not reachable within ${windowS} s of applying ${changeName(key, version)}: ${r.lastError}`,
          target
        )
      )
  }

  private async confirmed(key: string, version: number | null): Promise<void> {
    const p = this.layers.state.pending
    if (p?.key !== key || p.version !== version) return
    this.layers.state = { ...this.layers.state, pending: null, previous: null }
    await this.layers.saveAsync()
    const run = this.run!
    run.holder.set(run.holder.current, this.info())
    this.report('confirmed', {
      version,
      key,
      layers: layerList(this.layers.inForce()),
      afterMs: Date.now() - Date.parse(p.since)
    })
    this.o.log.info({ key, version }, 'remote configuration confirmed: the uplink answers')
    this.follow(run.holder.current)
    await this.drain()
  }

  /** `planned`: the plan of the layers before the change, if confirm() started it already. */
  private async rollback(
    key: string,
    version: number | null,
    message: string,
    planned: Promise<LayersResult> | null = null
  ): Promise<void> {
    const p = this.layers.state.pending
    if (p?.key !== key || p.version !== version) return
    const run = this.run!
    const target = this.layers.state.previous ?? {}
    let restore = this.o.local
    let layers = target
    const t0 = Date.now()
    const back = await (planned ?? this.planner.layers(target))
    const planMs = Date.now() - t0
    if (back.ok) {
      restore = back.config
      this.overridden = back.overridden
    } else {
      layers = {}
      this.overridden = []
      this.o.log.error(
        { code: 'HF_ERR_REMOTE_ROLLBACK', err: back.message },
        'previous layers no longer apply; restoring the local configuration'
      )
    }
    const swap = run.parts.prepare(restore, run.holder.current)
    this.layers.state = { ...this.layers.state, layers, previous: null, pending: null }
    const t1 = Date.now()
    await this.layers.saveAsync()
    const saveMs = Date.now() - t1
    swap()
    run.holder.set(restore, this.info())
    this.report('rolled-back', {
      version,
      key,
      restoredVersion: this.layers.top()?.version ?? null,
      layers: layerList(this.layers.inForce()),
      reason: 'uplink_unconfirmed',
      message
    })
    this.o.log.error(
      {
        code: 'HF_ERR_REMOTE_ROLLBACK',
        key,
        version,
        restored: this.layers.top()?.version ?? null,
        reason: message,
        // How late after the window's end, and where the time went (a slow planning thread or disk).
        lateMs: Date.now() - Date.parse(p.deadline),
        planMs,
        saveMs
      },
      'remote configuration rolled back'
    )
    await this.drain()
  }

  private async reject(
    key: string,
    version: number | null,
    reason: DocumentRejectReason,
    message: string,
    errors?: ReturnType<typeof explain>['errors']
  ): Promise<void> {
    await this.layers.saveAsync()
    // Not the document's fault: the box could not work it out, so the code says so on both channels.
    const failed = reason === 'planning_failed'
    const code = failed ? 'HF_ERR_REMOTE_PLAN' : 'HF_ERR_REMOTE_REJECTED'
    this.report('rejected', {
      version,
      key,
      reason,
      ...(failed ? { code } : {}),
      message,
      errors,
      appliedVersion: this.layers.top()?.version ?? null,
      layers: layerList(this.layers.inForce())
    })
    this.o.log[failed ? 'error' : 'warn'](
      { code, key, version, reason, err: message, errors },
      'remote configuration rejected'
    )
  }

  private report(type: Outcome['type'], fields: Record<string, unknown>): void {
    const e = this.reporter.event(type, fields)
    this.lastOutcome = {
      type,
      key: String(fields.key),
      version: (fields.version as number | null) ?? null,
      reason: (fields.reason as string | undefined) ?? null,
      message: (fields.message as string | undefined) ?? null,
      at: e.at
    }
  }
}

function changeName(key: string, version: number | null): string {
  return version === null ? `the removal of layer ${key}` : `version ${version} (${key})`
}

export function openRemoteConfig(o: RemoteOptions): RemoteConfig {
  return new RemoteConfig(o)
}
