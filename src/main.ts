/** Composition root: config → store → broker, forwarder, http; ordered shutdown. */
import type { Config } from './config/schema.js'
import type { Logger } from './log.js'
import type { HoldfastError } from './errors.js'
import { moveCheckpointsOffThread, moveCommitsOffThread, moveSyncOffThread, STORE_OPEN_WAIT_MS } from './store/db.js'
import { openBuffer } from './store/recover.js'
import { lockDataDir, type DataDirLock } from './store/data-dir-lock.js'
import { notifyReady, notifyStopping, startWatchdog } from './platform/sdnotify.js'
import { ReadingBuffer } from './store/buffer.js'
import { Counters } from './metrics/counters.js'
import { createAdmission } from './broker/admission.js'
import { startBroker, type Broker } from './broker/server.js'
import { startHttp, type StatusServer } from './status/server.js'
import { noUplinkActions } from './status/actions.js'
import { Forwarder } from './forward/forwarder.js'
import { ReadThread } from './forward/read-thread.js'
import { createUplinker } from './forward/producer.js'
import { setupAggregation } from './aggregate/setup.js'
import { openRemoteConfig } from './remote-config/controller.js'
import { ConfigHolder } from './remote-config/holder.js'
import { closingWhenIdle } from './remote-config/link.js'
import { runningParts } from './remote-config/wiring.js'
import { LifetimeTotals } from './metrics/lifetime.js'
import { LedgerEmitter } from './forward/ledger-emitter.js'

/** In-memory lifetime counts (received, refusals) are written this often; releases and drops at once. */
const LIFETIME_FLUSH_MS = 5_000

export interface Gateway {
  config: Readonly<Config>
  buffer: ReadingBuffer
  counters: Counters
  forwarder: Forwarder
  close: () => Promise<void>
}

export interface StartOptions {
  config: Readonly<Config>
  log: Logger
  configSource: string
  /** The command line's settings: remote configuration validates documents with them (flags win over a document). */
  flags?: Record<string, string | true>
  /**
   * The buffer can take nothing more (a failed WAL sync, HF_ERR_STORE_SYNC): the process should exit at
   * once, without closing the buffer, so that its restart recovers it from what is on disk.
   */
  onFatal?: (err: HoldfastError) => void
}

export async function startGateway({
  config: localConfig,
  log,
  configSource,
  flags,
  onFatal
}: StartOptions): Promise<Gateway> {
  const startedMs = Date.now()
  // First, so that opening (or salvaging) a large buffer is never taken for a hang by systemd.
  const watchdog = startWatchdog({
    onError: err => log.warn({ err, code: 'HF_WARN_SDNOTIFY' }, 'systemd watchdog ping failed')
  })
  // Before anything reads or writes the data directory: it must be usable, and ours alone.
  let dirLock: DataDirLock
  try {
    dirLock = lockDataDir(localConfig.dataDir)
  } catch (err) {
    watchdog.stop()
    throw err
  }
  try {
    return await startLocked({ localConfig, log, configSource, flags, onFatal, startedMs, watchdog, dirLock })
  } catch (err) {
    dirLock.release()
    watchdog.stop()
    throw err
  }
}

async function startLocked({
  localConfig,
  log,
  configSource,
  flags,
  onFatal,
  startedMs,
  watchdog,
  dirLock
}: {
  localConfig: Readonly<Config>
  log: Logger
  configSource: string
  flags?: Record<string, string | true>
  onFatal?: (err: HoldfastError) => void
  startedMs: number
  watchdog: { stop: () => void }
  dirLock: DataDirLock
}): Promise<Gateway> {
  // Remote configuration (remote.enabled): the applied document, if any, sets the live settings from the start.
  const remote = localConfig.remote.enabled
    ? openRemoteConfig({ local: localConfig, localSource: configSource, flags: flags ?? {}, env: process.env, log })
    : null
  const config = remote?.bootConfig ?? localConfig
  const holder = new ConfigHolder(config, remote?.info() ?? { source: configSource, version: null })
  const newLink = (k: Config['kafka']) =>
    remote !== null ? closingWhenIdle(createUplinker(k), k.requestTimeoutMs * 2) : createUplinker(k)
  const { db, recovery } = openBuffer({ dataDir: config.dataDir, synchronous: config.store.synchronous })
  if (recovery !== null)
    log.error(
      { ...recovery },
      'buffer files were damaged: kept what could be read, the damaged files are in quarantine'
    )
  const commits = moveCommitsOffThread(db, config.store.synchronous === 'full', message =>
    log.error(
      { code: 'HF_WARN_STORE_COMMIT_INLINE', err: message },
      'commit worker failed; group commits run on the broker thread'
    )
  )
  const walSync =
    config.store.synchronous === 'full'
      ? moveSyncOffThread(db, commits, message =>
          log.error(
            { code: 'HF_WARN_STORE_SYNC_INLINE', err: message },
            'commit worker failed; WAL syncs run on the broker thread'
          )
        )
      : null
  const buffer = new ReadingBuffer(db, config.store.commitWindowMs, walSync, commits)
  buffer.recovery = recovery
  buffer.writer.onBroken(err => {
    log.fatal(
      { code: err.code, err: err.message },
      'buffer WAL sync failed: stopping, so that the restart recovers the buffer from what is on disk'
    )
    onFatal?.(err)
  })
  const checkpoints = moveCheckpointsOffThread(db, config.store.synchronous, message => {
    commits.checkpointInline()
    log.error(
      { code: 'HF_ERR_STORE_CHECKPOINT', err: message },
      'WAL checkpoints failed on the background thread; checkpointing inline'
    )
  })
  if (recovery !== null) {
    // Seqs that will never be seen: the ledger states them as gaps, so reconciliation does not call them missing.
    for (const [first, last] of recovery.unreadableRanges) buffer.seqLedger.addGap(first, last, 'unreadable')
    if (recovery.seqJumpedTo !== null)
      buffer.seqLedger.addGap(buffer.seqLedger.ledgerThrough() + 1, recovery.seqJumpedTo - 1, 'seq_jump')
  }
  const counters = new Counters()
  const lifetime = new LifetimeTotals(counters, buffer.seqLedger)
  lifetime.start(LIFETIME_FLUSH_MS)
  const backlog = buffer.usage.usageTotal()
  log.info(
    {
      gatewayId: config.gatewayId,
      dataDir: config.dataDir,
      backlog: backlog.readings,
      nextSeq: buffer.writer.lastSeq() + 1
    },
    'buffer open'
  )
  if (config.mqtt.allowAnonymous) {
    log.warn(
      { code: 'HF_WARN_ANONYMOUS' },
      'ANONYMOUS MQTT CLIENTS ALLOWED (--allow-anonymous): development only, any client may publish and subscribe anywhere'
    )
  }

  const aggregation = setupAggregation({ config, db, buffer, counters, log })
  const admission = createAdmission({
    config,
    buffer,
    counters,
    log,
    classify: aggregation.classify,
    relieve: aggregation.relieve
  })
  let broker: Broker | undefined
  let http: StatusServer | undefined
  const forwarder = new Forwarder({
    gatewayId: config.gatewayId,
    buffer,
    counters,
    link: config.kafka.brokers.length > 0 ? newLink(config.kafka) : null,
    batch: config.batch,
    uplink: config.uplink,
    log,
    classes: aggregation.classes,
    budget: aggregation.budget,
    ledger: new LedgerEmitter(config.gatewayId, buffer, lifetime, config.batch.ledgerIntervalMs),
    openReader: role =>
      new ReadThread(db.name, STORE_OPEN_WAIT_MS, message =>
        log.error(
          { code: 'HF_WARN_FORWARD_READ_INLINE', role, err: message },
          role === 'read'
            ? 'read worker failed; the forwarder reads and encodes on the broker thread'
            : 'compression worker failed; produce requests are compressed on the thread pool'
        )
      )
  })

  const close = async (): Promise<void> => {
    void notifyStopping()
    // Devices first (no new readings), then the uplink, then the status side (its live feed reads the
    // store: a page reconnecting must not reach a closed database), then the store.
    await remote?.stop()
    await broker?.close()
    await forwarder.stop()
    const httpClosed = new Promise<void>(resolve => {
      http === undefined ? resolve() : http.close(() => resolve())
    })
    http?.closeAllConnections()
    await httpClosed
    aggregation.stop()
    lifetime.stop()
    buffer.close()
    await checkpoints.close()
    log.info('stopped')
    watchdog.stop()
    dirLock.release()
  }

  try {
    await commits.ready
    broker = await startBroker({ ...config.mqtt, admission, counters, log })
    http = await startHttp({
      host: config.http.host,
      port: config.http.port,
      log,
      config: remote !== null ? holder.view() : config,
      // The technician's buttons; with no uplink configured they say so instead of pretending.
      actions: config.kafka.brokers.length > 0 ? forwarder : noUplinkActions,
      sources: {
        gatewayId: config.gatewayId,
        startedMs,
        counters,
        buffer,
        lifetime,
        quotaOf: admission.quotaOf,
        uplink: () => forwarder.view(),
        forward: () => forwarder.work(),
        budget: () => ({
          enabled: aggregation.budget.enabled,
          ...aggregation.budget.view(),
          classes: forwarder.classStates()
        }),
        aggregation: aggregation.view,
        mqtt: () => ({ listening: broker!.listening(), connections: broker!.connections() }),
        config: () => holder.describe()
      },
      ready: () => {
        const checks = { mqttListening: broker!.listening(), bufferWritable: buffer.writer.lastCommitOk() }
        return { ok: Object.values(checks).every(Boolean), checks }
      }
    })
  } catch (err) {
    await close().catch(() => {})
    throw err
  }
  forwarder.start()
  // Follow the wall clock once a second; a box that booted without the right time corrects the
  // receive times of what it stored meanwhile once NTP has set it (see store/clock.ts).
  const clockTimer = setInterval(() => {
    if (!db.open) return
    const c = buffer.times.tick(buffer.writer.lastSeq())
    if (c !== null)
      log.warn(
        { code: 'HF_WARN_CLOCK_CORRECTED', ...c },
        'wall clock set: receive times of readings stored while it was wrong are corrected'
      )
  }, 1000)
  clockTimer.unref()
  remote?.start(
    runningParts({
      holder,
      counters,
      document: () => http!.statusDocument(),
      admission,
      aggregation,
      forwarder,
      newLink
    })
  )
  log.info(
    {
      mqttPort: config.mqtt.port,
      httpPort: config.http.port,
      uplink: config.kafka.brokers.length > 0 ? config.kafka.brokers : 'none'
    },
    'gateway ready'
  )
  void notifyReady(`MQTT on ${config.mqtt.port}, HTTP on ${config.http.port}, ${backlog.readings} readings buffered`, {
    onError: err => log.warn({ err, code: 'HF_WARN_SDNOTIFY' }, 'systemd readiness notification failed')
  })
  return { config, buffer, counters, forwarder, close }
}
