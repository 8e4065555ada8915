/**
 * kafkajs clients built from the `kafka.*` settings (TLS, SASL) — one place for the uplink and the
 * remote-config side. Timeouts are short on purpose: a dead link must be noticed in seconds, and
 * retrying is the caller's job (with backoff), not kafkajs' minutes-long internal retries.
 */
import { readFileSync } from 'node:fs'
import { Kafka, logLevel, type SASLOptions } from 'kafkajs'
import type { Config } from '../config/schema.js'
import { HoldfastError } from '../errors.js'
import { FreshFile } from '../platform/file-watch.js'

function sasl(k: Config['kafka']): SASLOptions | undefined {
  const { saslUsername: username, saslPassword: password } = k
  switch (k.saslMechanism) {
    case 'none':
      return undefined
    case 'plain':
      return { mechanism: 'plain', username, password }
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username, password }
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username, password }
  }
}

const caFiles = new Map<string, FreshFile>()

/**
 * TLS options whose CA list is read again when the file changes on disk: kafkajs copies the options
 * for every new broker connection, so a renewed CA is used from the next reconnect on, without a
 * restart, while open connections keep running.
 */
function trusting(caFile: string): { readonly ca: string[] } {
  let f = caFiles.get(caFile)
  if (f === undefined) caFiles.set(caFile, (f = new FreshFile(caFile, readFileSync(caFile, 'utf8'))))
  const file = f
  return {
    get ca() {
      return [file.get()]
    }
  }
}

/** A client for `role` (its client id gets `-role` appended; the uplink uses none). */
export function kafkaClient(k: Config['kafka'], role?: string): Kafka {
  return new Kafka({
    clientId: role === undefined ? k.clientId : `${k.clientId}-${role}`,
    brokers: k.brokers,
    ssl: k.ssl ? (k.caFile !== '' ? trusting(k.caFile) : true) : undefined,
    sasl: sasl(k),
    connectionTimeout: Math.min(3000, k.requestTimeoutMs),
    authenticationTimeout: Math.min(3000, k.requestTimeoutMs),
    requestTimeout: k.requestTimeoutMs,
    retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 },
    logLevel: logLevel.NOTHING
  })
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Delete a consumer group a command read with and committed nothing to (a fresh one per run), or the
 * cluster collects one per run. Best effort: without the Delete ACL on the group it stays.
 */
export async function deleteGroupQuietly(kafka: Kafka, groupId: string, timeoutMs: number): Promise<void> {
  const admin = kafka.admin()
  await withTimeout(
    (async () => {
      await admin.connect()
      await admin.deleteGroups([groupId])
    })(),
    timeoutMs,
    'delete the consumer group'
  ).catch(() => {})
  await admin.disconnect().catch(() => {})
}

export const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms).unref())

/** `Name: message` for kafkajs errors (their class names say what failed: SASL, connection, …). */
export function describe(err: unknown): string {
  // A coded failure (src/kafka/uplink-error.ts) leads with its code, which /api/status shows.
  if (err instanceof HoldfastError) return `${err.code}: ${err.message}`
  const e = err as { name?: string; message?: string }
  const name = e?.name !== undefined && e.name !== 'Error' ? `${e.name}: ` : ''
  return `${name}${e?.message ?? String(err)}`
}
