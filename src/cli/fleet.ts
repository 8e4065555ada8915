/**
 * `holdfast fleet`: the operator's side of remote configuration (src/remote-config).
 *
 *   keygen  an Ed25519 key pair: the private key stays with the operator, the public key goes
 *           into each gateway's remote.trustedKeys
 *   sign    a config tree (the same JSON as a config file) → a signed, versioned document for one
 *           gateway or the fleet default (*), checked first with the gateway's own validator
 *   push    a signed document onto the compacted config topic, keyed by its gateway id (or *);
 *           --delete removes a gateway's own document (it falls back to the fleet default)
 *   status  each gateway's last reported configuration version, event and health, from the
 *           status topic
 */
import { randomUUID, generateKeyPairSync, createPrivateKey } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { HoldfastError, isHoldfastError } from '../errors.js'
import type { Config } from '../config/schema.js'
import type { FieldError } from '../config/load.js'
import { effectiveConfig } from '../remote-config/apply.js'
import { checkDocument, CONFIRM_WINDOW_S, FLEET_KEY } from '../remote-config/document.js'
import { kafkaClient, withTimeout } from '../kafka/client.js'
import { keyIdOf, publicKeyText, signDocument } from '../remote-config/verify.js'
import { parseArgs } from './args.js'

export const FLEET_USAGE = `  holdfast fleet keygen --key FILE             new Ed25519 operator key: FILE (private, 0600), FILE.pub; prints the public key for remote.trustedKeys
  holdfast fleet sign --key FILE --gateway ID|* [--version N] [--confirm-window-s S] [--comment TEXT] CONFIG.json
                                               sign a config tree for one gateway or the fleet default (*); prints the document
  holdfast fleet push --brokers H:P [--topic T] SIGNED.json|-     publish it under its gateway id (or *) on the config topic
  holdfast fleet push --brokers H:P --delete --gateway ID         remove a gateway's own document (the fleet default applies)
  holdfast fleet status --brokers H:P [--topic T] [--json]         each gateway's configuration version, last event and health
      Kafka options for push/status: --ssl --ca-file F --sasl-mechanism M --sasl-username U --sasl-password-file F`

const usage = (msg: string): HoldfastError => new HoldfastError('HF_ERR_USAGE', `${msg}\nusage:\n${FLEET_USAGE}`)

const KAFKA_FLAGS = [
  'brokers',
  'topic',
  'ssl',
  'ca-file',
  'sasl-mechanism',
  'sasl-username',
  'sasl-password-file',
  'request-timeout-ms'
]

function str(flags: Record<string, string | true>, name: string): string | undefined {
  const v = flags[name]
  if (v === true) throw usage(`--${name} needs a value`)
  return v
}

function checkFlags(flags: Record<string, string | true>, allowed: string[]): void {
  for (const name of Object.keys(flags)) if (!allowed.includes(name)) throw usage(`unknown flag --${name}`)
}

function kafkaSettings(flags: Record<string, string | true>): Config['kafka'] {
  const brokers = (str(flags, 'brokers') ?? '')
    .split(',')
    .map(b => b.trim())
    .filter(b => b !== '')
  if (brokers.length === 0) throw usage('--brokers HOST:PORT[,…] is needed')
  const mechanism = str(flags, 'sasl-mechanism') ?? 'none'
  if (!['none', 'plain', 'scram-sha-256', 'scram-sha-512'].includes(mechanism))
    throw usage(`--sasl-mechanism must be none, plain, scram-sha-256 or scram-sha-512 (got ${mechanism})`)
  const pwFile = str(flags, 'sasl-password-file')
  return {
    brokers,
    topic: '',
    clientId: 'holdfast-fleet',
    ssl: flags.ssl === true,
    caFile: str(flags, 'ca-file') ?? '',
    saslMechanism: mechanism as Config['kafka']['saslMechanism'],
    saslUsername: str(flags, 'sasl-username') ?? '',
    saslPassword: pwFile !== undefined ? (readFileSync(pwFile, 'utf8').split(/\r?\n/)[0] ?? '') : '',
    requestTimeoutMs: Number(str(flags, 'request-timeout-ms') ?? 10_000)
  }
}

function keygen(flags: Record<string, string | true>): void {
  checkFlags(flags, ['key'])
  const file = str(flags, 'key')
  if (file === undefined) throw usage('fleet keygen: --key FILE (where to write the private key)')
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  for (const f of [file, `${file}.pub`])
    if (existsSync(f)) throw usage(`fleet keygen: ${f} exists; an operator key is never overwritten`)
  writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' })
  writeFileSync(`${file}.pub`, publicKey.export({ format: 'pem', type: 'spki' }), { mode: 0o644, flag: 'wx' })
  process.stdout.write(`${publicKeyText(publicKey)}\n`)
  process.stderr.write(
    `private key: ${file} (keep it secret); public key: ${file}.pub, key id ${keyIdOf(publicKey)}\n` +
      "put the line above into each gateway's remote.trustedKeys (or the PEM file into remote.trustedKeysFile)\n"
  )
}

function fieldLines(errors: FieldError[]): string {
  return errors.map(e => `  ${e.field}: ${e.message}`).join('\n')
}

function signCommand(positionals: string[], flags: Record<string, string | true>): void {
  checkFlags(flags, ['key', 'gateway', 'version', 'confirm-window-s', 'comment', 'no-check'])
  const keyFile = str(flags, 'key')
  const gatewayId = str(flags, 'gateway')
  const [configFile, ...extra] = positionals
  if (keyFile === undefined || gatewayId === undefined || configFile === undefined || extra.length > 0)
    throw usage('fleet sign: --key FILE --gateway ID|* CONFIG.json')
  let config: unknown
  try {
    config = JSON.parse(configFile === '-' ? readFileSync(0, 'utf8') : readFileSync(configFile, 'utf8'))
  } catch (err) {
    throw new HoldfastError('HF_ERR_CONFIG_FILE', `cannot read ${configFile}: ${(err as Error).message}`)
  }
  const version = Number(str(flags, 'version') ?? Math.floor(Date.now() / 1000))
  const document: Record<string, unknown> = {
    gatewayId,
    version,
    confirmWindowS: Number(str(flags, 'confirm-window-s') ?? CONFIRM_WINDOW_S.default),
    issuedAt: new Date().toISOString(),
    config
  }
  const comment = str(flags, 'comment')
  if (comment !== undefined) document.comment = comment
  const checked = checkDocument(document)
  if (checked.doc === null)
    throw new HoldfastError('HF_ERR_CONFIG_INVALID', `invalid document:\n${fieldLines(checked.errors)}`, {
      errors: checked.errors
    })
  if (flags['no-check'] !== true) {
    // The gateway's own validator, without any box's local file, environment or flags.
    try {
      effectiveConfig({ flags: {}, env: {} }, checked.doc.config)
    } catch (err) {
      if (isHoldfastError(err, 'HF_ERR_CONFIG_INVALID'))
        throw new HoldfastError(
          'HF_ERR_CONFIG_INVALID',
          `a gateway would reject this document:\n${fieldLines(err.details.errors as FieldError[])}`,
          err.details
        )
      throw err
    }
  }
  const key = createPrivateKey(readFileSync(keyFile))
  if (key.asymmetricKeyType !== 'ed25519') throw usage(`${keyFile} is not an Ed25519 private key`)
  process.stdout.write(JSON.stringify(signDocument(document, key), null, 2) + '\n')
  process.stderr.write(
    `signed version ${version} for ${gatewayId === FLEET_KEY ? 'the fleet default (*)' : `gateway ${gatewayId}`}\n`
  )
}

async function push(positionals: string[], flags: Record<string, string | true>): Promise<void> {
  checkFlags(flags, [...KAFKA_FLAGS, 'delete', 'gateway', 'key'])
  const kafka = kafkaSettings(flags)
  const topic = str(flags, 'topic') ?? 'holdfast.config'
  let key: string
  let value: Buffer | null
  if (flags.delete === true) {
    const g = str(flags, 'gateway')
    if (g === undefined || positionals.length > 0) throw usage('fleet push --delete --gateway ID')
    key = g
    value = null
  } else {
    const [file, ...extra] = positionals
    if (file === undefined || extra.length > 0)
      throw usage('fleet push: which signed document? (a file, or - for stdin)')
    const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8')
    let signed: { document?: { gatewayId?: unknown; version?: unknown }; signature?: unknown }
    try {
      signed = JSON.parse(text)
    } catch (err) {
      throw usage(`${file}: not JSON (${(err as Error).message})`)
    }
    if (typeof signed.document?.gatewayId !== 'string' || signed.signature === undefined)
      throw usage(`${file}: not a signed document (holdfast fleet sign makes one)`)
    // --key publishes under another key than the document's own: only for tests of the gateway's checks.
    key = str(flags, 'key') ?? signed.document.gatewayId
    value = Buffer.from(JSON.stringify(signed))
  }
  const client = kafkaClient(kafka, 'push')
  const budget = kafka.requestTimeoutMs * 2
  const admin = client.admin()
  await withTimeout(admin.connect(), budget, 'connect')
  try {
    // One partition, compacted: one document per key, read in order by every gateway.
    const created = await withTimeout(
      admin.createTopics({
        topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
        waitForLeaders: true
      }),
      budget,
      'create topic'
    )
    if (created) process.stderr.write(`created compacted topic ${topic}\n`)
  } finally {
    await admin.disconnect()
  }
  const producer = client.producer({ allowAutoTopicCreation: false })
  await withTimeout(producer.connect(), budget, 'connect')
  try {
    await withTimeout(producer.send({ topic, acks: -1, messages: [{ key, value }] }), budget, 'produce')
  } finally {
    await producer.disconnect()
  }
  process.stdout.write(JSON.stringify({ pushed: value === null ? 'delete' : 'document', topic, key }) + '\n')
}

interface GatewayRow {
  gatewayId: string
  // biome-ignore lint/suspicious/noExplicitAny: free-form JSON read back from the status topic
  heartbeat?: Record<string, any>
  // biome-ignore lint/suspicious/noExplicitAny: likewise
  lastEvent?: Record<string, any>
  events: number
}

async function status(positionals: string[], flags: Record<string, string | true>): Promise<void> {
  checkFlags(flags, [...KAFKA_FLAGS, 'json', 'idle-exit-ms'])
  if (positionals.length > 0) throw usage(`unexpected arguments: ${positionals.join(' ')}`)
  const kafka = kafkaSettings(flags)
  const topic = str(flags, 'topic') ?? 'holdfast.status'
  const idleMs = Number(str(flags, 'idle-exit-ms') ?? 3000)
  const client = kafkaClient(kafka, 'status-reader')
  const budget = kafka.requestTimeoutMs * 2
  const admin = client.admin()
  await withTimeout(admin.connect(), budget, 'connect')
  let ends: Array<{ partition: number; high: string; low: string }>
  try {
    ends = await withTimeout(admin.fetchTopicOffsets(topic), budget, 'offsets')
  } finally {
    await admin.disconnect()
  }
  const need = new Map<number, bigint>()
  for (const e of ends) if (BigInt(e.high) > BigInt(e.low)) need.set(e.partition, BigInt(e.high) - 1n)
  const rows = new Map<string, GatewayRow>()
  if (need.size > 0) {
    const consumer = client.consumer({
      groupId: `holdfast-fleet-status-${randomUUID()}`,
      allowAutoTopicCreation: false
    })
    await withTimeout(consumer.connect(), budget, 'connect')
    let finish!: () => void
    const done = new Promise<void>(resolve => {
      finish = resolve
    })
    let last = Date.now()
    try {
      await consumer.subscribe({ topic, fromBeginning: true })
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          last = Date.now()
          // biome-ignore lint/suspicious/noExplicitAny: free-form JSON read back from the status topic
          let m: Record<string, any>
          try {
            m = JSON.parse(message.value?.toString('utf8') ?? '')
          } catch {
            m = {}
          }
          const id = typeof m.gatewayId === 'string' ? m.gatewayId : (message.key?.toString('utf8') ?? '?')
          let row = rows.get(id)
          if (row === undefined) rows.set(id, (row = { gatewayId: id, events: 0 }))
          if (m.type === 'heartbeat') row.heartbeat = m
          else if (typeof m.type === 'string') {
            row.lastEvent = m
            row.events++
          }
          const end = need.get(partition)
          if (end !== undefined && BigInt(message.offset) >= end) need.delete(partition)
          if (need.size === 0) finish()
        }
      })
      const timer = setInterval(() => {
        if (Date.now() - last > idleMs) finish()
      }, 200)
      await done
      clearInterval(timer)
    } finally {
      await consumer.disconnect()
    }
  }
  const list = [...rows.values()].sort((a, b) => a.gatewayId.localeCompare(b.gatewayId))
  if (flags.json === true) {
    for (const r of list) {
      const hb = r.heartbeat
      process.stdout.write(
        JSON.stringify({
          gatewayId: r.gatewayId,
          configVersion: hb?.config?.version ?? null,
          configState: hb?.config?.state ?? null,
          lastEvent:
            r.lastEvent === undefined
              ? null
              : {
                  type: r.lastEvent.type,
                  version: r.lastEvent.version ?? null,
                  reason: r.lastEvent.reason ?? null,
                  message: r.lastEvent.message ?? null,
                  at: r.lastEvent.at
                },
          health: hb?.health ?? null,
          uplink: hb?.uplink?.state ?? null,
          backlog: hb?.backlog?.readings ?? null,
          softwareVersion: hb?.softwareVersion ?? null,
          lastHeartbeat: hb?.at ?? null
        }) + '\n'
      )
    }
    return
  }
  const ago = (iso: string | undefined): string =>
    iso === undefined ? '-' : `${Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))} s ago`
  const table = [['GATEWAY', 'CONFIG', 'STATE', 'LAST EVENT', 'UPLINK', 'BACKLOG', 'HEALTH', 'HEARTBEAT', 'SOFTWARE']]
  for (const r of list) {
    const hb = r.heartbeat
    const e = r.lastEvent
    table.push([
      r.gatewayId,
      hb?.config?.version != null ? `v${String(hb.config.version)}` : '-',
      hb?.config?.state ?? '-',
      e === undefined
        ? '-'
        : `${String(e.type)} v${String(e.version ?? '?')}${e.reason != null ? ` (${String(e.reason)})` : ''}`,
      hb?.uplink?.state ?? '-',
      hb?.backlog?.readings != null ? String(hb.backlog.readings) : '-',
      hb?.health === undefined
        ? '-'
        : `${String(hb.health.level)}${hb.health.problems?.length > 0 ? `: ${String(hb.health.problems[0])}` : ''}`,
      ago(hb?.at),
      hb?.softwareVersion ?? '-'
    ])
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map(row => row[i]!.length)))
  for (const row of table)
    process.stdout.write(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ') + '\n')
}

export async function fleetCommand(argv: string[]): Promise<void> {
  const { positionals, flags } = parseArgs(argv, ['ssl', 'json', 'delete', 'no-check'])
  const [action, ...rest] = positionals
  switch (action) {
    case 'keygen':
      if (rest.length > 0) throw usage('fleet keygen takes no arguments')
      return keygen(flags)
    case 'sign':
      return signCommand(rest, flags)
    case 'push':
      return await push(rest, flags)
    case 'status':
      return await status(rest, flags)
    case 'help':
      process.stdout.write(`usage:\n${FLEET_USAGE}\n`)
      return
    default:
      throw usage(action === undefined ? 'fleet: which action?' : `fleet: unknown action "${action}"`)
  }
}
