/**
 * `holdfast fleet`: the operator's side of remote configuration (src/remote-config).
 *
 *   keygen   an Ed25519 key pair: the private key stays with the operator, the public key goes
 *            into each gateway's remote.trustedKeys
 *   sign     a partial config tree → a signed, versioned document for one gateway, a group or the
 *            fleet default (*), checked first with the gateway's own validator and against the
 *            size the config topic takes
 *   push     a signed document onto the compacted config topic under its layer key, compressed;
 *            --delete removes a layer (the gateways fall back to the remaining ones)
 *   status   desired (config topic) vs reported (status topic) per gateway; --rollout summarises
 *            one document's rollout; --watch refreshes
 *   history  the outcomes the status topic holds for one gateway
 */
import { createPrivateKey, generateKeyPairSync } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { CompressionTypes } from 'kafkajs'
import type { FieldError } from '../config/load.js'
import { HoldfastError, isHoldfastError } from '../errors.js'
import { kafkaClient, withTimeout } from '../kafka/client.js'
import { effectiveConfig } from '../remote-config/apply.js'
import {
  checkDocument,
  CONFIRM_WINDOW_S,
  describeKey,
  GROUP,
  GROUP_PREFIX,
  layerKeyOf
} from '../remote-config/document.js'
import { withoutNulls } from '../remote-config/layers.js'
import { keyIdOf, publicKeyText, signDocument } from '../remote-config/verify.js'
import { parseArgs } from './args.js'
import {
  brokerCall,
  DEFAULT_MAX_MESSAGE_BYTES,
  type Flags,
  KAFKA_FLAGS,
  kafkaSettings,
  readTopic,
  str as strFlag,
  topicFacts
} from './fleet-kafka.js'
import { printHistory, printRollout, printStatus } from './fleet-print.js'
import { desiredLayers, gatewayRows, parseReport, type Report, rollout } from './fleet-view.js'

export const FLEET_USAGE = `  holdfast fleet keygen --key FILE             new Ed25519 operator key: FILE (private, 0600), FILE.pub; prints the public key for remote.trustedKeys
  holdfast fleet sign --key FILE (--gateway ID|* | --group NAME=VALUE) [--version N] [--confirm-window-s S] [--comment TEXT]
                      [--max-bytes N | --brokers H:P [--topic T]] [--no-check] CONFIG.json
                                               sign a partial config tree for one gateway, a group or the fleet default (*); prints the document
  holdfast fleet push --brokers H:P [--topic T] SIGNED.json|-     publish it under its layer key on the config topic (compressed)
  holdfast fleet push --brokers H:P --delete (--gateway ID|* | --group NAME=VALUE)   remove that layer (gateways fall back)
  holdfast fleet status --brokers H:P [--topic T] [--config-topic T] [--json] [--rollout VERSION|SIGNED.json [--gateway ID|--group G]] [--watch [--interval-s S] [--max-rounds N]]
                                               desired vs reported per gateway; a rollout's summary
  holdfast fleet history --brokers H:P --gateway ID [--topic T] [--json]   the outcomes reported by one gateway
      Kafka options: --ssl --ca-file F --sasl-mechanism M --sasl-username U --sasl-password-file F --request-timeout-ms N`

const usage = (msg: string): HoldfastError => new HoldfastError('HF_ERR_USAGE', `${msg}\nusage:\n${FLEET_USAGE}`)
const str = (flags: Flags, name: string): string | undefined => strFlag(flags, name, usage)
const CONFIG_TOPIC = 'holdfast.config'
const STATUS_TOPIC = 'holdfast.status'

function checkFlags(flags: Flags, allowed: string[]): void {
  for (const name of Object.keys(flags)) if (!allowed.includes(name)) throw usage(`unknown flag --${name}`)
}

/** The layer key named by --gateway ID|* or --group NAME=VALUE (exactly one). */
function targetKey(flags: Flags, required: boolean): string | undefined {
  const g = str(flags, 'gateway')
  const group = str(flags, 'group')
  if (g !== undefined && group !== undefined) throw usage('--gateway and --group: one or the other')
  if (group !== undefined) {
    if (!GROUP.test(group)) throw usage(`--group must be NAME=VALUE, e.g. site=plant-7 (got ${group})`)
    return `${GROUP_PREFIX}${group}`
  }
  if (g === undefined && required) throw usage('which layer? --gateway ID, --gateway * or --group NAME=VALUE')
  return g
}

function keygen(flags: Flags): void {
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

/** The most bytes one document may have: --max-bytes, the config topic's max.message.bytes, or Kafka's default. */
async function sizeLimit(flags: Flags): Promise<{ bytes: number; from: string }> {
  const explicit = str(flags, 'max-bytes')
  if (explicit !== undefined) {
    const n = Number(explicit)
    if (!Number.isSafeInteger(n) || n < 1) throw usage(`--max-bytes must be a positive integer (got ${explicit})`)
    return { bytes: n, from: '--max-bytes' }
  }
  if (flags.brokers === undefined)
    return { bytes: DEFAULT_MAX_MESSAGE_BYTES, from: "Kafka's default max.message.bytes" }
  const kafka = kafkaSettings(flags, usage)
  const topic = str(flags, 'topic') ?? CONFIG_TOPIC
  const facts = await topicFacts(kafkaClient(kafka, 'sign'), kafka, topic)
  if (facts.maxMessageBytes === null)
    return { bytes: DEFAULT_MAX_MESSAGE_BYTES, from: `Kafka's default max.message.bytes (no topic ${topic} yet)` }
  return { bytes: facts.maxMessageBytes, from: `max.message.bytes of topic ${topic}` }
}

async function signCommand(positionals: string[], flags: Flags): Promise<void> {
  checkFlags(flags, [
    'key',
    'gateway',
    'group',
    'version',
    'confirm-window-s',
    'comment',
    'no-check',
    'max-bytes',
    'topic',
    ...KAFKA_FLAGS
  ])
  const keyFile = str(flags, 'key')
  const target = targetKey(flags, true)!
  const [configFile, ...extra] = positionals
  if (keyFile === undefined || configFile === undefined || extra.length > 0)
    throw usage('fleet sign: --key FILE (--gateway ID|* | --group NAME=VALUE) CONFIG.json')
  let config: unknown
  try {
    config = JSON.parse(configFile === '-' ? readFileSync(0, 'utf8') : readFileSync(configFile, 'utf8'))
  } catch (err) {
    throw new HoldfastError('HF_ERR_CONFIG_FILE', `cannot read ${configFile}: ${(err as Error).message}`)
  }
  const version = Number(str(flags, 'version') ?? Math.floor(Date.now() / 1000))
  const document: Record<string, unknown> = {
    ...(target.startsWith(GROUP_PREFIX) ? { group: target.slice(GROUP_PREFIX.length) } : { gatewayId: target }),
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
    // The gateway's own validator on this layer alone, without any box's file, environment or flags.
    try {
      effectiveConfig({ flags: {}, env: {} }, [{ key: target, config: withoutNulls(checked.doc.config) }], {
        requireBrokers: false
      })
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
  let key: ReturnType<typeof createPrivateKey>
  try {
    key = createPrivateKey(readFileSync(keyFile))
  } catch (err) {
    // A missing file, or the .pub given instead of the private key: a coded usage error, not a stack trace.
    const e = err as NodeJS.ErrnoException
    throw usage(
      e.code === 'ENOENT' ? `--key ${keyFile}: no such file` : `--key ${keyFile}: not a private key (${e.message})`
    )
  }
  if (key.asymmetricKeyType !== 'ed25519') throw usage(`${keyFile} is not an Ed25519 private key`)
  const signed = JSON.stringify(signDocument(document, key))
  const limit = await sizeLimit(flags)
  const bytes = Buffer.byteLength(signed)
  if (bytes > limit.bytes)
    throw new HoldfastError(
      'HF_ERR_FLEET_TOO_LARGE',
      `the signed document is ${bytes} bytes, over the ${limit.bytes} bytes the config topic takes (${limit.from}); split it across layers (fleet, groups, gateway) or raise the topic's max.message.bytes`,
      { bytes, limit: limit.bytes }
    )
  process.stdout.write(`${JSON.stringify(JSON.parse(signed), null, 2)}\n`)
  process.stderr.write(`signed version ${version} for ${describeKey(target)} (${bytes} bytes)\n`)
}

/** A message that is a Holdfast signed document (or a tombstone). */
function looksLikeDocument(value: Buffer | null): boolean {
  if (value === null) return true
  try {
    const v = JSON.parse(value.toString('utf8')) as { document?: unknown }
    return typeof v.document === 'object' && v.document !== null
  } catch {
    return false
  }
}

async function push(positionals: string[], flags: Flags): Promise<void> {
  checkFlags(flags, [...KAFKA_FLAGS, 'topic', 'delete', 'gateway', 'group', 'key'])
  const kafka = kafkaSettings(flags, usage)
  const topic = str(flags, 'topic') ?? CONFIG_TOPIC
  let key: string
  let value: Buffer | null
  if (flags.delete === true) {
    const k = targetKey(flags, true)!
    if (positionals.length > 0) throw usage('fleet push --delete (--gateway ID|* | --group NAME=VALUE)')
    key = k
    value = null
  } else {
    const [file, ...extra] = positionals
    if (file === undefined || extra.length > 0)
      throw usage('fleet push: which signed document? (a file, or - for stdin)')
    let text: string
    try {
      text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8')
    } catch (err) {
      throw usage(`${file}: cannot read (${(err as Error).message})`)
    }
    let signed: { document?: { gatewayId?: string; group?: string }; signature?: unknown }
    try {
      signed = JSON.parse(text)
    } catch (err) {
      throw usage(`${file}: not JSON (${(err as Error).message})`)
    }
    const d = signed.document
    if (
      typeof d !== 'object' ||
      d === null ||
      (typeof d.gatewayId !== 'string' && typeof d.group !== 'string') ||
      signed.signature === undefined
    )
      throw usage(`${file}: not a signed document (holdfast fleet sign makes one)`)
    // --key publishes under another key than the document's own: only for tests of the gateway's checks.
    key = str(flags, 'key') ?? layerKeyOf(d)
    value = Buffer.from(JSON.stringify(signed))
  }
  const client = kafkaClient(kafka, 'push')
  const budget = kafka.requestTimeoutMs * 2
  const facts = await topicFacts(client, kafka, topic)
  if (facts.exists) {
    if (facts.cleanupPolicy !== null && !facts.cleanupPolicy.includes('compact'))
      throw new HoldfastError(
        'HF_ERR_FLEET_TOPIC',
        `topic ${topic} is not compacted (cleanup.policy=${facts.cleanupPolicy}): it does not look like a Holdfast config topic; check --topic`
      )
    const { messages } = await readTopic(client, kafka, topic, 2000)
    const foreign = messages.filter(m => !looksLikeDocument(m.value)).length
    if (messages.length > 0 && foreign > messages.length / 2)
      throw new HoldfastError(
        'HF_ERR_FLEET_TOPIC',
        `topic ${topic}: ${foreign} of ${messages.length} messages are not signed documents: it does not look like a Holdfast config topic; check --topic`
      )
  } else {
    // One partition, compacted: one document per key, read in order by every gateway.
    await brokerCall(`creating topic ${topic}`, async () => {
      const admin = client.admin()
      await withTimeout(admin.connect(), budget, 'connect')
      try {
        await withTimeout(
          admin.createTopics({
            topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
            waitForLeaders: true
          }),
          budget,
          'create topic'
        )
      } finally {
        await admin.disconnect().catch(() => {})
      }
    })
    process.stderr.write(`created compacted topic ${topic}\n`)
  }
  await brokerCall(`publishing to ${topic}`, async () => {
    const producer = client.producer({ allowAutoTopicCreation: false })
    await withTimeout(producer.connect(), budget, 'connect')
    try {
      await withTimeout(
        producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages: [{ key, value }] }),
        budget,
        'produce'
      )
    } finally {
      await producer.disconnect().catch(() => {})
    }
  })
  process.stdout.write(`${JSON.stringify({ pushed: value === null ? 'delete' : 'document', topic, key })}\n`)
}

/** Status topic reports and config topic layers, read once. */
async function readFleet(
  flags: Flags
): Promise<{ reports: Report[]; desired: ReturnType<typeof desiredLayers>; readAtMs: number }> {
  // Ages are taken from when the read started: the topic is read up to its end as of then.
  const readAtMs = Date.now()
  const kafka = kafkaSettings(flags, usage)
  const statusTopic = str(flags, 'topic') ?? STATUS_TOPIC
  const configTopic = str(flags, 'config-topic') ?? CONFIG_TOPIC
  const idleMs = Number(str(flags, 'idle-exit-ms') ?? 3000)
  const client = kafkaClient(kafka, 'status-reader')
  const st = await readTopic(client, kafka, statusTopic, idleMs)
  if (!st.exists)
    throw new HoldfastError(
      'HF_ERR_FLEET_TOPIC',
      `topic ${statusTopic} does not exist: no gateway has reported yet, or --topic is wrong`
    )
  const reports: Report[] = []
  let foreign = 0
  let documents = 0
  for (const m of st.messages) {
    const r = parseReport(m)
    if (r !== null) reports.push(r)
    else {
      foreign++
      if (looksLikeDocument(m.value)) documents++
    }
  }
  if (st.messages.length > 0 && foreign > st.messages.length / 2)
    throw new HoldfastError(
      'HF_ERR_FLEET_TOPIC',
      documents > foreign / 2
        ? `topic ${statusTopic} holds signed documents: it is a config topic, not a status topic; check --topic`
        : `topic ${statusTopic}: ${foreign} of ${st.messages.length} messages are not Holdfast reports: it does not look like a Holdfast status topic; check --topic`
    )
  const ct = await readTopic(client, kafka, configTopic, idleMs)
  return { reports, desired: desiredLayers(ct.messages), readAtMs }
}

/** --rollout VERSION (with --gateway/--group, or the key that holds it) or --rollout SIGNED.json. */
function rolloutTarget(
  flags: Flags,
  desired: ReturnType<typeof desiredLayers>
): { key: string; version: number } | undefined {
  const r = str(flags, 'rollout')
  if (r === undefined) return undefined
  if (/^\d+$/.test(r)) {
    const version = Number(r)
    const named = targetKey(flags, false)
    if (named !== undefined) return { key: named, version }
    const holding = [...desired.values()].filter(d => d.version === version).map(d => d.key)
    if (holding.length === 0)
      throw usage(`--rollout ${r}: no layer on the config topic holds version ${r}; name it with --gateway or --group`)
    if (holding.length > 1)
      throw usage(
        `--rollout ${r}: layers ${holding.join(', ')} all hold version ${r}; name one with --gateway or --group`
      )
    return { key: holding[0]!, version }
  }
  let d: { gatewayId?: string; group?: string; version?: unknown } | undefined
  try {
    d = (JSON.parse(readFileSync(r, 'utf8')) as { document?: typeof d }).document
  } catch (err) {
    throw usage(`--rollout ${r}: neither a version nor a readable signed document (${(err as Error).message})`)
  }
  if (d === undefined || typeof d.version !== 'number') throw usage(`--rollout ${r}: not a signed document`)
  return { key: layerKeyOf(d), version: d.version }
}

async function status(positionals: string[], flags: Flags): Promise<void> {
  checkFlags(flags, [
    ...KAFKA_FLAGS,
    'topic',
    'config-topic',
    'json',
    'idle-exit-ms',
    'rollout',
    'gateway',
    'group',
    'watch',
    'interval-s',
    'max-rounds'
  ])
  if (positionals.length > 0) throw usage(`unexpected arguments: ${positionals.join(' ')}`)
  const intervalMs = Number(str(flags, 'interval-s') ?? 2) * 1000
  const maxRounds = Number(str(flags, 'max-rounds') ?? Number.POSITIVE_INFINITY)
  for (let round = 1; ; round++) {
    const { reports, desired, readAtMs } = await readFleet(flags)
    const rows = gatewayRows(reports, desired, readAtMs)
    const target = rolloutTarget(flags, desired)
    let finished = true
    if (target !== undefined) {
      const r = rollout(rows, target.key, target.version)
      printRollout(r, flags.json === true)
      finished = r.done
    } else printStatus(rows, flags.json === true)
    if (flags.watch !== true || (target !== undefined && finished) || round >= maxRounds) return
    // A referenced timer: kafka/client.ts's sleep() is unref'd, and nothing else keeps the command alive
    // between rounds (--watch printed one round and exited).
    await new Promise(resolve => setTimeout(resolve, intervalMs))
    if (flags.json !== true) process.stdout.write('\n')
  }
}

async function history(positionals: string[], flags: Flags): Promise<void> {
  checkFlags(flags, [...KAFKA_FLAGS, 'topic', 'config-topic', 'json', 'idle-exit-ms', 'gateway'])
  const gatewayId = str(flags, 'gateway')
  if (gatewayId === undefined || positionals.length > 0) throw usage('fleet history --gateway ID')
  const { reports } = await readFleet(flags)
  // The status topic is at least once: a report sent again (a lost ack) is the same event, same seq.
  const seen = new Set<string>()
  const events = reports.filter(r => {
    if (r.gatewayId !== gatewayId || r.type === 'heartbeat') return false
    const id = `${r.seq}|${r.type}|${r.key}|${r.version}|${r.at}`
    if (seen.has(id)) return false
    seen.add(id)
    return true
  })
  printHistory(gatewayId, events, flags.json === true)
}

export async function fleetCommand(argv: string[]): Promise<void> {
  const { positionals, flags } = parseArgs(argv, ['ssl', 'json', 'delete', 'no-check', 'watch'])
  const [action, ...rest] = positionals
  switch (action) {
    case 'keygen':
      if (rest.length > 0) throw usage('fleet keygen takes no arguments')
      return keygen(flags)
    case 'sign':
      return await signCommand(rest, flags)
    case 'push':
      return await push(rest, flags)
    case 'status':
      return await status(rest, flags)
    case 'history':
      return await history(rest, flags)
    case 'help':
      process.stdout.write(`usage:\n${FLEET_USAGE}\n`)
      return
    default:
      throw usage(action === undefined ? 'fleet: which action?' : `fleet: unknown action "${action}"`)
  }
}
