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
import type { Config } from '../config/schema.js'
import { configError } from '../config/load.js'
import type { Logger } from '../log.js'
import { describe, sleep } from '../kafka/client.js'
import { differs, effectiveConfig, readLocalInputs, type LiveParts, type LocalInputs } from './apply.js'
import { checkDocument, CONFIRM_WINDOW_S, describeKey, layerKeyOf } from './document.js'
import type { ConfigHolder, ConfigInfo } from './holder.js'
import { type Layer, layerOrder, leafPaths, supersededLeaves } from './layers.js'
import { explain, layerList, type Outcome, type DocumentRejectReason, safeVersion, sourceOf } from './outcome.js'
import { Reporter } from './reporter.js'
import { readState, statePath, writeState, type RemoteState, type StoredDocument } from './store.js'
import { loadTrustedKeys, verifyMessage, type TrustedKey } from './verify.js'
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
/** How often, within the confirmation window, the uplink is asked. */
const CONFIRM_PROBE_MS = 1000

export class RemoteConfig {
  /** The configuration to start with: what the stored layers give, or the local one. */
  readonly bootConfig: Readonly<Config>
  private readonly gatewayId: string
  /** Layer keys, lowest first. */
  private readonly order: string[]
  private readonly file: string
  private readonly keys: TrustedKey[]
  private readonly inputs: LocalInputs
  private readonly reporter: Reporter
  private state: RemoteState
  /** Parsed config trees of the layers in force (and of `previous` while pending). */
  private trees = new Map<string, Record<string, unknown>>()
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
    this.inputs = readLocalInputs(o.flags, o.env)
    this.file = statePath(local.dataDir)
    this.state = readState(this.file, local.gatewayId)
    this.reporter = new Reporter({
      gatewayId: local.gatewayId,
      topic: local.remote.statusTopic,
      dataDir: local.dataDir,
      heartbeatIntervalMs: local.remote.heartbeatIntervalMs,
      heartbeat: () => ({ ...(this.run?.heartbeat() ?? {}), config: this.configSummary() }),
      log
    })
    // Layers of keys this gateway no longer follows (a group left) are dropped.
    for (const k of Object.keys(this.state.layers)) if (!this.order.includes(k)) delete this.state.layers[k]

    const s = this.state
    if (s.pending !== null) {
      // Stopped or crashed before the change was confirmed: go back to the confirmed layers.
      const bad = s.pending
      this.state = { ...s, layers: s.previous ?? {}, previous: null, pending: null }
      writeState(this.file, this.state)
      this.report('rolled-back', {
        version: bad.version,
        key: bad.key,
        restoredVersion: this.top()?.version ?? null,
        layers: layerList(this.inForce()),
        reason: 'restarted_unconfirmed',
        message: `the gateway restarted before ${changeName(bad.key, bad.version)} was confirmed; the confirmed configuration was restored`
      })
      log.warn(
        { code: 'HF_ERR_REMOTE_ROLLBACK', key: bad.key, version: bad.version },
        'restarted before the remote configuration was confirmed: previous configuration restored'
      )
    }
    let boot = local
    if (this.inForce().length > 0) {
      try {
        boot = this.configOfStored(this.state.layers)
        log.info({ layers: layerList(this.inForce()) }, 'starting with the applied remote configuration')
      } catch (err) {
        const { message, errors } = explain(err)
        for (const d of this.inForce())
          this.report('rejected', {
            version: d.version,
            key: d.key,
            reason: 'invalid',
            message: `the stored layers no longer apply (${message}); starting with the local configuration`,
            errors
          })
        this.state = { ...this.state, layers: {} }
        this.trees.clear()
        writeState(this.file, this.state)
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
  }

  /** Where the configuration in force came from, for the status page. */
  info(): ConfigInfo {
    const top = this.top()
    if (top === null) return { source: this.o.localSource, version: null }
    const awaiting = this.state.pending !== null ? ', awaiting confirmation' : ''
    const layers = this.inForce()
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

  private enqueue(fn: () => void | Promise<void>): void {
    this.queue = this.queue
      .then(fn)
      .catch(err => this.o.log.error({ code: 'HF_ERR_REMOTE', err: describe(err) }, 'remote configuration step failed'))
  }

  /** Documents in force, lowest layer first. */
  private inForce(layers: Record<string, StoredDocument> = this.state.layers): StoredDocument[] {
    return this.order.filter(k => layers[k] !== undefined).map(k => layers[k]!)
  }

  private top(): StoredDocument | null {
    return this.inForce().at(-1) ?? null
  }

  private configSummary(): Record<string, unknown> {
    const top = this.top()
    const p = this.state.pending
    return {
      version: top?.version ?? null,
      key: top?.key ?? null,
      state: p !== null ? 'pending' : top === null ? 'local' : 'confirmed',
      layers: layerList(this.inForce()),
      groups: this.o.local.remote.groups,
      pending: p === null ? null : { key: p.key, version: p.version, deadline: p.deadline },
      overridden: this.overridden,
      lastOutcome: this.lastOutcome
    }
  }

  /** Verify a stored document again and return its config tree. */
  private treeOf(d: StoredDocument): Record<string, unknown> {
    const cached = this.trees.get(d.key)
    if (cached !== undefined) return cached
    const v = verifyMessage(Buffer.from(d.wire, 'utf8'), this.keys)
    if (!v.ok) throw new Error(`${d.key} v${d.version}: ${v.reason}: ${v.message}`)
    const { doc, errors } = checkDocument(v.document)
    if (doc === null) throw configError(errors)
    this.trees.set(d.key, doc.config)
    return doc.config
  }

  private layersOf(stored: Record<string, StoredDocument>, extra?: Layer): Layer[] {
    return this.order.flatMap(k => {
      if (extra?.key === k) return [extra]
      const d = stored[k]
      return d === undefined ? [] : [{ key: k, config: this.treeOf(d) }]
    })
  }

  private configOfStored(stored: Record<string, StoredDocument>): Readonly<Config> {
    const eff = effectiveConfig(this.inputs, this.layersOf(stored))
    this.overridden = eff.overridden
    return eff.config
  }

  private caughtUp(latest: Map<string, Buffer | null>): void {
    // Lowest layer first; after a restart, what was handled before is not handled twice.
    for (const key of this.order) {
      if (!latest.has(key)) continue
      const v = latest.get(key) ?? null
      if (this.state.seen[key] !== (v === null ? TOMBSTONE : sha256(v))) this.wait(key, v)
    }
    this.drain()
  }

  private arrived(key: string, value: Buffer | null): void {
    this.wait(key, value)
    this.drain()
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
  private drain(): void {
    while (this.state.pending === null && !this.stopped && this.waiting.size > 0) {
      const [key, value] = this.waiting.entries().next().value as [string, Buffer | null]
      this.waiting.delete(key)
      this.handle(key, value)
    }
  }

  private handle(key: string, value: Buffer | null): void {
    this.state.seen[key] = value === null ? TOMBSTONE : sha256(value)
    if (value === null) {
      const gone = this.state.layers[key]
      if (gone === undefined) return writeState(this.file, this.state)
      const next = { ...this.state.layers }
      delete next[key]
      this.change(key, null, next, CONFIRM_WINDOW_S.default, { deleted: true, deletedVersion: gone.version })
      return
    }
    const v = verifyMessage(value, this.keys)
    if (!v.ok) return this.reject(key, safeVersion(value), v.reason, v.message)
    const { doc, errors } = checkDocument(v.document)
    if (doc === null) return this.reject(key, safeVersion(value), 'invalid', 'the document envelope is invalid', errors)
    const target = layerKeyOf(doc)
    if (target !== key)
      return this.reject(
        key,
        doc.version,
        'wrong_gateway',
        `the document is addressed to ${describeKey(target)} but was published under key ${key}; this gateway is ${this.gatewayId}`
      )
    const floor = this.state.floors[key] ?? 0
    if (doc.version <= floor)
      return this.reject(
        key,
        doc.version,
        'not_newer',
        `version ${doc.version} is not newer than version ${floor}, the newest accepted on layer ${key} so far (no replay, no downgrade)`
      )
    const stored: StoredDocument = {
      key,
      version: doc.version,
      wire: value.toString('utf8'),
      keyId: v.keyId,
      appliedAt: new Date().toISOString()
    }
    const layer = { key, config: doc.config }
    const all = this.layersOf(this.state.layers, layer)
    const shadowed = supersededLeaves(layer, all, this.order)
    const leaves = [...shadowed.keys()]
    const allShadowed = leaves.length > 0 && leaves.length === leafPaths(doc.config).length
    if (allShadowed) {
      // Kept as the layer (it applies once the higher one goes), but it changes nothing now.
      this.trees.set(key, doc.config)
      this.state.layers = { ...this.state.layers, [key]: stored }
      this.state.floors[key] = doc.version
      writeState(this.file, this.state)
      const by = [...new Set(shadowed.values())]
      this.report('ignored', {
        version: doc.version,
        key,
        keyId: v.keyId,
        reason: 'superseded',
        supersededBy: by,
        message: `every field it sets is set by a higher layer (${by.map(describeKey).join(', ')}); kept, it applies when that layer goes`,
        comment: doc.comment
      })
      return
    }
    this.change(
      key,
      stored,
      { ...this.state.layers, [key]: stored },
      doc.confirmWindowS,
      {
        keyId: v.keyId,
        comment: doc.comment,
        superseded: Object.fromEntries(shadowed)
      },
      doc.config
    )
  }

  /** Apply a new set of layers (one key changed), or reject it as invalid; opens the confirmation window. */
  private change(
    key: string,
    stored: StoredDocument | null,
    next: Record<string, StoredDocument>,
    windowS: number,
    fields: Record<string, unknown>,
    tree?: Record<string, unknown>
  ): void {
    const run = this.run!
    const version = stored?.version ?? null
    const previousTree = this.trees.get(key)
    let config: Readonly<Config>
    let overridden: string[]
    let swap: () => void
    try {
      if (tree !== undefined) this.trees.set(key, tree)
      else this.trees.delete(key)
      ;({ config, overridden } = effectiveConfig(this.inputs, this.layersOf(next)))
      swap = run.parts.prepare(config, run.holder.current)
    } catch (err) {
      if (previousTree !== undefined) this.trees.set(key, previousTree)
      else this.trees.delete(key)
      const { message, errors } = explain(err)
      return this.reject(key, version, 'invalid', message, errors)
    }
    const prev = run.holder.current
    const now = Date.now()
    const deadline = now + windowS * 1000
    // On disk first: a crash between here and the swap restarts on the previous configuration.
    this.state = {
      ...this.state,
      layers: next,
      previous: this.state.layers,
      floors: stored !== null ? { ...this.state.floors, [key]: stored.version } : this.state.floors,
      pending: { key, version, since: new Date(now).toISOString(), deadline: new Date(deadline).toISOString() }
    }
    writeState(this.file, this.state)
    swap()
    this.overridden = overridden
    run.holder.set(config, this.info())
    this.report('applied', {
      version,
      key,
      source: sourceOf(key),
      confirmWindowS: windowS,
      previousVersion: this.inForce(this.state.previous ?? {}).at(-1)?.version ?? null,
      layers: layerList(this.inForce()),
      overridden,
      changed: changedSections(prev, config),
      ...fields
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
    const run = this.run!
    const mine = (): boolean => this.state.pending?.key === key && this.state.pending.version === version
    let lastError = 'no answer yet'
    while (!this.stopped && mine()) {
      const left = deadline - Date.now()
      if (left <= 0) {
        this.enqueue(() =>
          this.rollback(
            key,
            version,
            `the uplink was not reachable within ${windowS} s of applying ${changeName(key, version)}: ${lastError}`
          )
        )
        return
      }
      const started = Date.now()
      const r = await Promise.race([run.testUplink(), sleep(left).then(() => null)])
      if (r?.ok === true) {
        this.enqueue(() => this.confirmed(key, version))
        return
      }
      if (r !== null) lastError = r.error ?? 'failed'
      await sleep(Math.max(0, Math.min(CONFIRM_PROBE_MS - (Date.now() - started), deadline - Date.now())))
    }
  }

  private confirmed(key: string, version: number | null): void {
    const p = this.state.pending
    if (p?.key !== key || p.version !== version) return
    this.state = { ...this.state, pending: null, previous: null }
    writeState(this.file, this.state)
    const run = this.run!
    run.holder.set(run.holder.current, this.info())
    this.report('confirmed', {
      version,
      key,
      layers: layerList(this.inForce()),
      afterMs: Date.now() - Date.parse(p.since)
    })
    this.o.log.info({ key, version }, 'remote configuration confirmed: the uplink answers')
    this.follow(run.holder.current)
    this.drain()
  }

  private rollback(key: string, version: number | null, message: string): void {
    const p = this.state.pending
    if (p?.key !== key || p.version !== version) return
    const run = this.run!
    const target = this.state.previous ?? {}
    let restore = this.o.local
    let layers = target
    try {
      this.trees.delete(key)
      restore = this.configOfStored(target)
    } catch (err) {
      layers = {}
      this.overridden = []
      this.o.log.error(
        { code: 'HF_ERR_REMOTE_ROLLBACK', err: describe(err) },
        'previous layers no longer apply; restoring the local configuration'
      )
    }
    const swap = run.parts.prepare(restore, run.holder.current)
    this.state = { ...this.state, layers, previous: null, pending: null }
    writeState(this.file, this.state)
    swap()
    run.holder.set(restore, this.info())
    this.report('rolled-back', {
      version,
      key,
      restoredVersion: this.top()?.version ?? null,
      layers: layerList(this.inForce()),
      reason: 'uplink_unconfirmed',
      message
    })
    this.o.log.error(
      { code: 'HF_ERR_REMOTE_ROLLBACK', key, version, restored: this.top()?.version ?? null, reason: message },
      'remote configuration rolled back'
    )
    this.drain()
  }

  private reject(
    key: string,
    version: number | null,
    reason: DocumentRejectReason,
    message: string,
    errors?: ReturnType<typeof explain>['errors']
  ): void {
    writeState(this.file, this.state)
    this.report('rejected', {
      version,
      key,
      reason,
      message,
      errors,
      appliedVersion: this.top()?.version ?? null,
      layers: layerList(this.inForce())
    })
    this.o.log.warn(
      { code: 'HF_ERR_REMOTE_REJECTED', key, version, reason, err: message, errors },
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

/** Top-level sections that differ, for the applied report. */
function changedSections(a: Readonly<Config>, b: Readonly<Config>): string[] {
  return Object.keys(b).filter(k => differs(a, b, k))
}

export function openRemoteConfig(o: RemoteOptions): RemoteConfig {
  return new RemoteConfig(o)
}
