/**
 * `holdfast decode`: batches from a Kafka topic, from files or from stdin → one JSON line per
 * reading on stdout, each event id printed once (in bounded memory: src/central/dedupe.ts).
 * Diagnostics and a closing summary go to stderr, so stdout stays pure JSON lines. Undecodable input
 * is reported and skipped (exit status 1 at the end), never a reason to stop reading the rest.
 */
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { randomUUID } from 'node:crypto'
import { deleteGroupQuietly } from '../kafka/client.js'
import { Kafka, logLevel, type IHeaders, type LogEntry } from 'kafkajs'
import { HoldfastError } from '../errors.js'
import { decodeBatch, splitStream, type DecodedReading } from '../codec/batch.js'
import type { ReadingMetadata } from '../codec/metadata.js'
import { DEFAULT_DEDUPE_WINDOW, Dedupe } from '../central/dedupe.js'
import { iso, payloadFields } from '../central/record.js'
import { parseArgs } from './args.js'

export const DECODE_USAGE = `usage:
  holdfast decode --brokers HOST:PORT[,...] --topic TOPIC [--from-beginning] [--group ID]
                  [--max-messages N] [--idle-exit-ms N] [--dedupe-window N]
  holdfast decode [--dedupe-window N] FILE... | -
A file holds one batch value (as a Kafka message carries it) or a stream of values, each preceded
by its length (4 bytes, big-endian); - reads stdin. Without --group, a throw-away consumer group is
used and no offsets are committed. Duplicates are recognised within the last --dedupe-window
readings printed (default ${DEFAULT_DEDUPE_WINDOW}); memory stays bounded however long the topic.
`

const LEVELS: Record<number, string> = { 1: 'error', 2: 'warn', 4: 'info', 5: 'debug' }
const FLAGS = new Set(['brokers', 'topic', 'from-beginning', 'group', 'max-messages', 'idle-exit-ms', 'dedupe-window'])

interface Line {
  eventId: string
  gatewayId: string
  seq: number
  device: string
  topic: string
  recvTime: string | null
  eventTime: string | null
  qos: number
  /** The batch's priority class, type (`raw` or `rollup`: a reading the gateway made) and lane. */
  class: string
  kind: string
  lane: string
  /** MQTT 5 `userProperties` and `contentType` the batch carried; {} when none. */
  metadata: ReadingMetadata
  payload?: unknown
  payloadBase64?: string
}

/** Parsed JSON when the payload is UTF-8 JSON text, else its bytes in base64. */
export function toLine(r: DecodedReading): Line {
  const line: Line = {
    eventId: r.eventId,
    gatewayId: r.gatewayId,
    seq: r.seq,
    device: r.device,
    topic: r.topic,
    recvTime: iso(r.recvMs),
    eventTime: r.eventMs === null ? null : iso(r.eventMs),
    qos: r.qos,
    class: r.cls,
    kind: r.kind,
    lane: r.lane,
    metadata: r.metadata ?? {}
  }
  return Object.assign(line, payloadFields(r.payload))
}

/**
 * Prints each event id once, within the bound of its Dedupe: per (gateway, device) the highest seq
 * printed, plus the last `window` seqs printed; a reading older than the window that cannot be told
 * from a forgotten one is printed and counted `unverified`.
 */
class Printer {
  readonly stats = { batches: 0, readings: 0, printed: 0, duplicates: 0, unverified: 0, undecodable: 0 }
  constructor(private readonly dedupe: Dedupe) {}

  async batch(readings: DecodedReading[]): Promise<void> {
    this.stats.batches++
    this.stats.readings += readings.length
    let out = ''
    for (const r of readings) {
      const verdict = this.dedupe.check(r.gatewayId, r.device, r.seq)
      if (verdict === 'duplicate') {
        this.stats.duplicates++
        continue
      }
      if (verdict === 'unverified') this.stats.unverified++
      this.stats.printed++
      out += JSON.stringify(toLine(r)) + '\n'
    }
    if (out !== '' && !process.stdout.write(out)) await once(process.stdout, 'drain')
  }

  bad(err: unknown, where: Record<string, unknown>): void {
    this.stats.undecodable++
    const e = err instanceof HoldfastError ? err.toJSON() : { message: String((err as Error)?.message ?? err) }
    process.stderr.write(JSON.stringify({ undecodable: where, ...e }) + '\n')
  }
}

export async function decode(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(DECODE_USAGE)
    return
  }
  const { positionals, flags } = parseArgs(argv, ['from-beginning'])
  for (const f of Object.keys(flags))
    if (!FLAGS.has(f)) throw new HoldfastError('HF_ERR_USAGE', `decode: unknown flag --${f}\n${DECODE_USAGE}`)
  const window = positiveInt(flags, 'dedupe-window') ?? DEFAULT_DEDUPE_WINDOW
  const printer = new Printer(new Dedupe(window))
  // `holdfast decode ... | head` closes the pipe early: that is a normal end, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0)
    else throw err
  })
  if (flags.topic !== undefined) {
    if (positionals.length > 0)
      throw new HoldfastError('HF_ERR_USAGE', `decode: give either --topic or files, not both\n${DECODE_USAGE}`)
    await fromKafka(flags, printer)
  } else {
    if (positionals.length === 0) throw new HoldfastError('HF_ERR_USAGE', `decode: nothing to read\n${DECODE_USAGE}`)
    for (const f of ['brokers', 'group', 'max-messages', 'idle-exit-ms', 'from-beginning']) {
      if (flags[f] !== undefined)
        throw new HoldfastError('HF_ERR_USAGE', `decode: --${f} needs --topic\n${DECODE_USAGE}`)
    }
    for (const file of positionals) await fromFile(file, printer)
  }
  process.stderr.write(JSON.stringify({ summary: printer.stats }) + '\n')
  if (printer.stats.undecodable > 0) process.exitCode = 1
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

async function fromFile(file: string, printer: Printer): Promise<void> {
  let values: Buffer[]
  try {
    values = splitStream(file === '-' ? await readStdin() : await readFile(file))
  } catch (err) {
    printer.bad(err, { file })
    return
  }
  for (let i = 0; i < values.length; i++) {
    let readings: DecodedReading[]
    try {
      readings = decodeBatch(values[i]!)
    } catch (err) {
      printer.bad(err, { file, index: i })
      continue
    }
    await printer.batch(readings)
  }
}

const positiveInt = (flags: Record<string, string | true>, name: string): number | undefined => {
  const v = flags[name]
  if (v === undefined) return undefined
  const n = Number(v)
  if (typeof v !== 'string' || !Number.isSafeInteger(n) || n <= 0)
    throw new HoldfastError('HF_ERR_USAGE', `decode: --${name} must be a positive integer (got ${String(v)})`)
  return n
}

/** kafkajs headers allow arrays (a repeated header); the format has each hf-* header once. */
function headersOf(h: IHeaders | undefined): Record<string, string | Buffer | undefined> {
  const out: Record<string, string | Buffer | undefined> = {}
  for (const [k, v] of Object.entries(h ?? {})) out[k] = Array.isArray(v) ? v[0] : v
  return out
}

async function fromKafka(flags: Record<string, string | true>, printer: Printer): Promise<void> {
  const brokers =
    typeof flags.brokers === 'string'
      ? flags.brokers
          .split(',')
          .map(b => b.trim())
          .filter(b => b !== '')
      : []
  const topic = flags.topic
  if (brokers.length === 0 || typeof topic !== 'string' || topic === '')
    throw new HoldfastError('HF_ERR_USAGE', `decode: --topic needs --brokers HOST:PORT\n${DECODE_USAGE}`)
  if (flags.group === true) throw new HoldfastError('HF_ERR_USAGE', 'decode: --group needs a value')
  const maxMessages = positiveInt(flags, 'max-messages')
  const idleExitMs = positiveInt(flags, 'idle-exit-ms')
  const group = flags.group
  const kafka = new Kafka({
    clientId: 'holdfast-decode',
    brokers,
    logLevel: logLevel.WARN,
    // kafkajs logs to stdout by default; stdout is for readings only.
    logCreator:
      () =>
      ({ namespace, level, log }: LogEntry) => {
        process.stderr.write(
          JSON.stringify({ kafka: namespace, level: LEVELS[level] ?? level, message: log.message, error: log.error }) +
            '\n'
        )
      }
  })
  const groupId = group ?? `holdfast-decode-${randomUUID()}`
  const consumer = kafka.consumer({ groupId })
  let finish!: () => void
  const finished = new Promise<void>(resolve => {
    finish = resolve
  })
  let stopping = false
  const stop = (): void => {
    stopping = true
    finish()
  }
  let idle: NodeJS.Timeout | undefined
  const rearm = (): void => {
    if (idleExitMs === undefined) return
    clearTimeout(idle)
    idle = setTimeout(stop, idleExitMs)
  }
  consumer.on(consumer.events.GROUP_JOIN, rearm)
  const onSignal = (): void => stop()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  let messages = 0
  try {
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: flags['from-beginning'] === true })
    await consumer.run({
      autoCommit: group !== undefined,
      eachBatchAutoResolve: false,
      // Offsets are resolved one message at a time, so a stop (--max-messages, a signal) commits
      // exactly what was printed and a later run with the same --group resumes after it.
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        for (const message of batch.messages) {
          if (stopping || !isRunning() || isStale()) break
          rearm()
          let readings: DecodedReading[] | null = null
          try {
            if (message.value === null) throw new HoldfastError('HF_ERR_DECODE', 'message has no value')
            readings = decodeBatch(message.value, headersOf(message.headers))
          } catch (err) {
            printer.bad(err, { topic: batch.topic, partition: batch.partition, offset: message.offset })
          }
          if (readings !== null) await printer.batch(readings)
          resolveOffset(message.offset)
          if (maxMessages !== undefined && ++messages >= maxMessages) stop()
        }
        await heartbeat()
      }
    })
    await finished
  } finally {
    clearTimeout(idle)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await consumer.disconnect()
    if (group === undefined) await deleteGroupQuietly(kafka, groupId, 10_000)
  }
}
