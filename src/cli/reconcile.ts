/**
 * `holdfast reconcile`: read the batch topic (or files of batch values) to its end, including the
 * gateways' ledger control records, and print per gateway and device what was delivered, dropped at
 * the edge (by reason) and missing. Exit status 1 when anything is missing or unverifiable.
 */
import { readFile } from 'node:fs/promises'
import { randomUUID } from 'node:crypto'
import { deleteGroupQuietly } from '../kafka/client.js'
import { Kafka, logLevel, type IHeaders, type LogEntry } from 'kafkajs'
import { HoldfastError } from '../errors.js'
import { decodeMessage, splitStream } from '../codec/batch.js'
import { Accountant } from '../codec/account.js'
import { parseArgs } from './args.js'

export const RECONCILE_USAGE = `usage:
  holdfast reconcile --brokers HOST:PORT[,HOST:PORT] --topic TOPIC [--timeout-ms N]
  holdfast reconcile FILE... | -

Reads the whole batch topic (every partition up to its end when the command started), or files of
batch values (one value, or 4-byte big-endian length-prefixed values), and prints JSON lines:
one per device {"gateway","device","delivered","rollups","dropped":{reason:n},"released","missing"},
one per gateway {"gateway","ledgers","from","through","ledgerHoles","delivered","rollups","dropped",
"gaps","missing","missingRanges","unsettled","duplicates"}, then {"summary":{"gateways","devices",
"delivered","missingSeqs","missingByDevice","gatewaysWithoutLedger","undecodable","ok"}}.
Exit status: 0 when every seq up to each gateway's last ledger is delivered or accounted for;
1 when something is missing, a gateway sent no ledger, or a message could not be decoded; 2 on usage errors.
`

const FLAGS = new Set(['brokers', 'topic', 'timeout-ms'])
const LEVELS: Record<number, string> = { 1: 'error', 2: 'warn', 4: 'info', 5: 'debug' }

export async function reconcile(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(RECONCILE_USAGE)
    return
  }
  const { positionals, flags } = parseArgs(argv)
  for (const f of Object.keys(flags))
    if (!FLAGS.has(f)) throw new HoldfastError('HF_ERR_USAGE', `reconcile: unknown flag --${f}\n${RECONCILE_USAGE}`)
  const acc = new Accountant()
  if (flags.topic !== undefined) {
    if (positionals.length > 0)
      throw new HoldfastError('HF_ERR_USAGE', `reconcile: give either --topic or files, not both\n${RECONCILE_USAGE}`)
    await fromKafka(flags, acc)
  } else {
    if (positionals.length === 0)
      throw new HoldfastError('HF_ERR_USAGE', `reconcile: nothing to read\n${RECONCILE_USAGE}`)
    for (const file of positionals) await fromFile(file, acc)
  }
  const { gateways, devices } = acc.report()
  const out: string[] = []
  for (const d of devices) out.push(JSON.stringify(d))
  for (const g of gateways) out.push(JSON.stringify(g))
  const missingSeqs = gateways.reduce((n, g) => n + g.missing, 0)
  const missingByDevice = devices.reduce((n, d) => n + d.missing, 0)
  const unverified = gateways.filter(g => g.ledgers === 0).length
  const ok = missingSeqs === 0 && missingByDevice === 0 && unverified === 0 && acc.undecodable === 0
  out.push(
    JSON.stringify({
      summary: {
        gateways: gateways.length,
        devices: devices.length,
        delivered: gateways.reduce((n, g) => n + g.delivered, 0),
        missingSeqs,
        missingByDevice,
        gatewaysWithoutLedger: unverified,
        undecodable: acc.undecodable,
        ok
      }
    })
  )
  process.stdout.write(out.join('\n') + '\n')
  if (!ok) process.exitCode = 1
}

function add(
  acc: Accountant,
  value: Buffer | null,
  headers: IHeaders | undefined,
  where: Record<string, unknown>
): void {
  try {
    if (value === null) throw new HoldfastError('HF_ERR_DECODE', 'message has no value')
    const h: Record<string, string | Buffer | undefined> = {}
    for (const [k, v] of Object.entries(headers ?? {})) h[k] = Array.isArray(v) ? v[0] : v
    acc.add(decodeMessage(value, h))
  } catch (err) {
    acc.undecodable++
    const code = (err as { code?: string }).code ?? 'HF_ERR_DECODE'
    process.stderr.write(JSON.stringify({ code, error: (err as Error).message, ...where }) + '\n')
  }
}

async function fromFile(file: string, acc: Accountant): Promise<void> {
  let values: Buffer[]
  try {
    const data = file === '-' ? await readStdin() : await readFile(file)
    values = splitStream(data)
  } catch (err) {
    acc.undecodable++
    process.stderr.write(JSON.stringify({ code: 'HF_ERR_DECODE', error: (err as Error).message, file }) + '\n')
    return
  }
  for (let i = 0; i < values.length; i++) add(acc, values[i]!, undefined, { file, index: i })
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

async function fromKafka(flags: Record<string, string | true>, acc: Accountant): Promise<void> {
  const brokers = typeof flags.brokers === 'string' ? flags.brokers.split(',').filter(b => b.trim() !== '') : []
  const topic = flags.topic
  if (brokers.length === 0 || typeof topic !== 'string' || topic === '')
    throw new HoldfastError('HF_ERR_USAGE', `reconcile: --topic needs --brokers HOST:PORT\n${RECONCILE_USAGE}`)
  const timeoutMs = flags['timeout-ms'] === undefined ? 600_000 : Number(flags['timeout-ms'])
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0)
    throw new HoldfastError('HF_ERR_USAGE', 'reconcile: --timeout-ms must be a positive integer')
  const kafka = new Kafka({
    clientId: 'holdfast-reconcile',
    brokers,
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log }: LogEntry) => {
        process.stderr.write(
          JSON.stringify({ kafka: namespace, level: LEVELS[level] ?? level, message: log.message }) + '\n'
        )
      }
  })
  // The end of each partition when we start: read up to it, so the result is one consistent cut.
  const admin = kafka.admin()
  await admin.connect()
  let ends: Map<number, bigint>
  try {
    ends = new Map((await admin.fetchTopicOffsets(topic)).map(p => [p.partition, BigInt(p.high)]))
  } finally {
    await admin.disconnect()
  }
  const remaining = new Set([...ends].filter(([, high]) => high > 0n).map(([p]) => p))
  if (remaining.size === 0) return
  const groupId = `holdfast-reconcile-${randomUUID()}`
  const consumer = kafka.consumer({ groupId })
  let finish!: () => void
  const finished = new Promise<void>(resolve => {
    finish = resolve
  })
  const timer = setTimeout(() => {
    process.stderr.write(
      JSON.stringify({ code: 'HF_ERR_USAGE', error: `reconcile: topic not read to its end within ${timeoutMs} ms` }) +
        '\n'
    )
    acc.undecodable++
    finish()
  }, timeoutMs)
  try {
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        const end = ends.get(batch.partition) ?? 0n
        for (const m of batch.messages) {
          if (BigInt(m.offset) >= end) break
          add(acc, m.value, m.headers, { partition: batch.partition, offset: m.offset })
          resolveOffset(m.offset)
          if (BigInt(m.offset) + 1n >= end) {
            remaining.delete(batch.partition)
            if (remaining.size === 0) finish()
          }
        }
        await heartbeat()
      }
    })
    await finished
  } finally {
    clearTimeout(timer)
    await consumer.disconnect()
    await deleteGroupQuietly(kafka, groupId, 10_000)
  }
}
