/**
 * `holdfast expand`: the central side's stream of single readings. Consumes the batch topic in a consumer
 * group and writes one JSON record per reading (schemas/expanded-record.schema.json) to an output topic,
 * keyed by device, exactly once (src/central/expander.ts). Runs until SIGTERM/SIGINT; logs (pino JSON)
 * and a closing summary go to stderr.
 */
import { Kafka, logLevel, type LogEntry } from 'kafkajs'
import { Expander } from '../central/expander.js'
import { DEFAULT_DEDUPE_WINDOW } from '../central/dedupe.js'
import { HoldfastError } from '../errors.js'
import { createLogger } from '../log.js'
import { parseArgs } from './args.js'

export const EXPAND_USAGE = `usage:
  holdfast expand --brokers HOST:PORT[,...] [--topic holdfast.telemetry] [--output-topic TOPIC]
                  [--group holdfast-expand] [--latest] [--dedupe-window N]
                  [--session-timeout-ms 30000] [--transaction-timeout-ms 60000]
                  [--messages-per-transaction 100] [--log-level info]
Reads batches from --topic with consumer group --group and writes one JSON record per reading to
--output-topic (default <topic>.expanded; created with the input's partition count when missing),
keyed by device, in Kafka transactions that also commit the group's offsets: exactly once. Start as
many instances as the input has partitions; they share the partitions. Read the output with
isolation level read_committed. A new group starts at the oldest message (--latest: new ones only).
`

const FLAGS = new Set([
  'brokers',
  'topic',
  'output-topic',
  'group',
  'latest',
  'dedupe-window',
  'session-timeout-ms',
  'transaction-timeout-ms',
  'messages-per-transaction',
  'log-level'
])
const LEVELS: Record<number, string> = { 1: 'error', 2: 'warn', 4: 'info', 5: 'debug' }
/** kafkajs reports these retried, expected conditions at error level; they are not worth a log line. */
const EXPECTED = [
  'concurrent operation on the same transaction',
  'The group is rebalancing',
  'group coordinator is not available',
  'not the correct coordinator',
  // Warned for every idempotent producer with bounded retries; here every send is in a transaction,
  // and a failed transaction is aborted as a whole, so a retry limit cannot duplicate anything.
  'Limiting retries for the idempotent producer'
]

function intFlag(flags: Record<string, string | true>, name: string, dflt: number, min: number): number {
  const v = flags[name]
  if (v === undefined) return dflt
  const n = Number(v)
  if (typeof v !== 'string' || !Number.isSafeInteger(n) || n < min)
    throw new HoldfastError('HF_ERR_USAGE', `expand: --${name} must be an integer ≥ ${min} (got ${String(v)})`)
  return n
}

function textFlag(flags: Record<string, string | true>, name: string, dflt: string): string {
  const v = flags[name]
  if (v === undefined) return dflt
  if (typeof v !== 'string' || v === '') throw new HoldfastError('HF_ERR_USAGE', `expand: --${name} needs a value`)
  return v
}

export async function expand(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(EXPAND_USAGE)
    return
  }
  const { positionals, flags } = parseArgs(argv, ['latest'])
  for (const f of Object.keys(flags))
    if (!FLAGS.has(f)) throw new HoldfastError('HF_ERR_USAGE', `expand: unknown flag --${f}\n${EXPAND_USAGE}`)
  if (positionals.length > 0)
    throw new HoldfastError('HF_ERR_USAGE', `expand: unexpected argument ${positionals[0]}\n${EXPAND_USAGE}`)
  const brokers = textFlag(flags, 'brokers', '')
    .split(',')
    .map(b => b.trim())
    .filter(b => b !== '')
  if (brokers.length === 0) throw new HoldfastError('HF_ERR_USAGE', `expand: --brokers is required\n${EXPAND_USAGE}`)
  const inputTopic = textFlag(flags, 'topic', 'holdfast.telemetry')
  const outputTopic = textFlag(flags, 'output-topic', `${inputTopic}.expanded`)
  if (outputTopic === inputTopic)
    throw new HoldfastError('HF_ERR_USAGE', 'expand: --output-topic must differ from --topic')
  const log = createLogger({ level: textFlag(flags, 'log-level', 'info'), destination: process.stderr, ring: null })
  const kafka = new Kafka({
    clientId: 'holdfast-expand',
    brokers,
    // A transaction's next AddPartitionsToTxn meets CONCURRENT_TRANSACTIONS until the coordinator has
    // written the previous one's markers: retry it quickly (Java's client waits 20 ms), not after 300 ms.
    retry: { initialRetryTime: 20, maxRetryTime: 2000, retries: 12 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log: entry }: LogEntry) => {
        const error = typeof entry.error === 'string' ? entry.error : ''
        if (EXPECTED.some(e => error.includes(e) || entry.message.includes(e))) return
        log.warn({ kafka: namespace, kafkaLevel: LEVELS[level] ?? level, error: entry.error }, entry.message)
      }
  })
  const expander = new Expander({
    kafka,
    inputTopic,
    outputTopic,
    groupId: textFlag(flags, 'group', 'holdfast-expand'),
    fromBeginning: flags.latest !== true,
    dedupeWindow: intFlag(flags, 'dedupe-window', DEFAULT_DEDUPE_WINDOW, 1),
    sessionTimeoutMs: intFlag(flags, 'session-timeout-ms', 30_000, 1000),
    transactionTimeoutMs: intFlag(flags, 'transaction-timeout-ms', 60_000, 1000),
    messagesPerTransaction: intFlag(flags, 'messages-per-transaction', 100, 1),
    log
  })
  let stopped!: () => void
  const stopping = new Promise<void>(resolve => {
    stopped = resolve
  })
  process.once('SIGINT', () => stopped())
  process.once('SIGTERM', () => stopped())
  await expander.start()
  log.info({ inputTopic, outputTopic }, 'expand: running')
  await stopping
  await expander.stop()
  process.stderr.write(JSON.stringify({ summary: expander.summary() }) + '\n')
}
