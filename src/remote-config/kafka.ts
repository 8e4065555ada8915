/** A kafkajs client for the remote-config side (config topic, status topic), built from the same `kafka.*` settings as the uplink. */
import { readFileSync } from 'node:fs'
import { Kafka, logLevel, type SASLOptions } from 'kafkajs'
import type { Config } from '../config/schema.js'

function sasl (k: Config['kafka']): SASLOptions | undefined {
  const { saslUsername: username, saslPassword: password } = k
  switch (k.saslMechanism) {
    case 'none': return undefined
    case 'plain': return { mechanism: 'plain', username, password }
    case 'scram-sha-256': return { mechanism: 'scram-sha-256', username, password }
    case 'scram-sha-512': return { mechanism: 'scram-sha-512', username, password }
  }
}

export function kafkaClient (k: Config['kafka'], role: string): Kafka {
  return new Kafka({
    clientId: `${k.clientId}-${role}`,
    brokers: k.brokers,
    ssl: k.ssl ? (k.caFile !== '' ? { ca: [readFileSync(k.caFile, 'utf8')] } : true) : undefined,
    sasl: sasl(k),
    connectionTimeout: Math.min(3000, k.requestTimeoutMs),
    authenticationTimeout: Math.min(3000, k.requestTimeoutMs),
    requestTimeout: k.requestTimeoutMs,
    retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 },
    logLevel: logLevel.NOTHING
  })
}

export async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms) })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms).unref())

export function describe (err: unknown): string {
  const e = err as { name?: string, message?: string }
  const name = e?.name !== undefined && e.name !== 'Error' ? `${e.name}: ` : ''
  return `${name}${e?.message ?? String(err)}`
}
