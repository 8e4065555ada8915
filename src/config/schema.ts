/**
 * The one description of every setting: type, bounds, default and doc. Flags and
 * HOLDFAST_* variables are derived from the path (`batch.lingerMs` → `--batch-linger-ms`,
 * `HOLDFAST_BATCH_LINGER_MS`) unless a field names its own flag.
 */
import { hostname } from 'node:os'

interface Base { doc: string, flag?: string, secret?: boolean }
export type FieldSpec =
  | Base & { kind: 'int', default: number, min: number, max: number }
  | Base & { kind: 'number', default: number, min: number, max: number }
  | Base & { kind: 'string', default: string, pattern?: RegExp, patternDoc?: string }
  | Base & { kind: 'bool', default: boolean }
  | Base & { kind: 'enum', default: string, values: readonly string[] }
  | Base & { kind: 'list', default: readonly string[], pattern?: RegExp, patternDoc?: string }
export interface SectionSpec { [key: string]: FieldSpec | SectionSpec }

export function isField (s: FieldSpec | SectionSpec): s is FieldSpec {
  return typeof (s as FieldSpec).kind === 'string' && typeof (s as FieldSpec).doc === 'string'
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const HOSTPORT = /^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/
const MiB = 1024 * 1024

export const schema = {
  gatewayId: { kind: 'string', default: '', pattern: ID, patternDoc: '1-64 of A-Z a-z 0-9 . _ -, starting alphanumeric', doc: 'Gateway id; default: the host name' },
  dataDir: { kind: 'string', default: './data', doc: 'Folder for the buffer database and local state' },
  logLevel: { kind: 'enum', default: 'info', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], doc: 'pino log level' },
  mqtt: {
    host: { kind: 'string', default: '0.0.0.0', doc: 'MQTT listen address' },
    port: { kind: 'int', default: 1883, min: 1, max: 65535, doc: 'MQTT TCP port' },
    allowAnonymous: { kind: 'bool', default: false, flag: 'allow-anonymous', doc: 'Development switch: accept clients without credentials' },
    connectTimeoutMs: { kind: 'int', default: 10_000, min: 100, max: 300_000, doc: 'Close sockets that send no CONNECT within this time' },
    maxConnections: { kind: 'int', default: 5_000, min: 1, max: 1_000_000, doc: 'Cap on concurrent MQTT connections' },
    maxPayloadBytes: { kind: 'int', default: 256 * 1024, min: 16, max: 16 * MiB, doc: 'Largest PUBLISH payload accepted' }
  },
  http: {
    host: { kind: 'string', default: '0.0.0.0', doc: 'Status page / API listen address' },
    port: { kind: 'int', default: 8080, min: 1, max: 65535, doc: 'Status page / API port' }
  },
  store: {
    synchronous: { kind: 'enum', default: 'full', values: ['full', 'normal'], doc: 'SQLite synchronous mode; full survives power loss, normal only process crashes' },
    maxBytes: { kind: 'int', default: 1024 * MiB, min: MiB, max: Number.MAX_SAFE_INTEGER, doc: 'Disk budget for buffered readings (payload + overhead bytes)' },
    minFreeBytes: { kind: 'int', default: 64 * MiB, min: 0, max: Number.MAX_SAFE_INTEGER, doc: 'Refuse new readings when the data volume has less free space than this' }
  },
  kafka: {
    brokers: { kind: 'list', default: [], pattern: HOSTPORT, patternDoc: 'host:port', doc: 'Kafka bootstrap brokers, comma-separated; empty = no uplink (readings are kept)' },
    topic: { kind: 'string', default: 'holdfast.telemetry', pattern: /^[A-Za-z0-9._-]{1,249}$/, patternDoc: 'a Kafka topic name', doc: 'Topic readings are forwarded to' },
    clientId: { kind: 'string', default: '', doc: 'Kafka client id; default holdfast-<gatewayId>' },
    ssl: { kind: 'bool', default: false, doc: 'Use TLS to the brokers' },
    caFile: { kind: 'string', default: '', doc: 'PEM file of CAs trusted for the brokers (TLS)' },
    saslMechanism: { kind: 'enum', default: 'none', values: ['none', 'plain', 'scram-sha-256', 'scram-sha-512'], doc: 'SASL mechanism' },
    saslUsername: { kind: 'string', default: '', doc: 'SASL user name' },
    saslPassword: { kind: 'string', default: '', secret: true, doc: 'SASL password' },
    requestTimeoutMs: { kind: 'int', default: 5_000, min: 500, max: 120_000, doc: 'Per-request timeout; bounds how long a dead link goes unnoticed' }
  },
  batch: {
    maxReadings: { kind: 'int', default: 1000, min: 1, max: 100_000, doc: 'Readings per batch (Kafka message)' },
    maxBytes: { kind: 'int', default: 256 * 1024, min: 1024, max: 16 * MiB, doc: 'Raw payload bytes per batch' },
    lingerMs: { kind: 'int', default: 100, min: 0, max: 60_000, doc: 'How long a partial batch may wait for more readings' },
    freshShare: { kind: 'number', default: 0.2, min: 0, max: 0.9, doc: 'Share of each send given to the newest readings while a backlog drains' }
  },
  uplink: {
    backoffMinMs: { kind: 'int', default: 250, min: 10, max: 60_000, doc: 'First retry delay after a failed send' },
    backoffMaxMs: { kind: 'int', default: 30_000, min: 100, max: 3_600_000, doc: 'Largest retry delay' },
    probeIntervalMs: { kind: 'int', default: 5_000, min: 100, max: 600_000, doc: 'Metadata probe interval when idle (keeps the state honest)' }
  }
} as const satisfies SectionSpec

/** Typed view of a validated configuration. Mirrors `schema`. */
export interface Config {
  gatewayId: string
  dataDir: string
  logLevel: string
  mqtt: { host: string, port: number, allowAnonymous: boolean, connectTimeoutMs: number, maxConnections: number, maxPayloadBytes: number }
  http: { host: string, port: number }
  store: { synchronous: 'full' | 'normal', maxBytes: number, minFreeBytes: number }
  kafka: {
    brokers: string[], topic: string, clientId: string, ssl: boolean, caFile: string,
    saslMechanism: 'none' | 'plain' | 'scram-sha-256' | 'scram-sha-512', saslUsername: string, saslPassword: string,
    requestTimeoutMs: number
  }
  batch: { maxReadings: number, maxBytes: number, lingerMs: number, freshShare: number }
  uplink: { backoffMinMs: number, backoffMaxMs: number, probeIntervalMs: number }
}

/** Defaults that depend on the host are filled in here, after validation. */
export function hostDefaults (cfg: Config): Config {
  const gatewayId = cfg.gatewayId !== '' ? cfg.gatewayId : (hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64) || 'holdfast')
  return { ...cfg, gatewayId, kafka: { ...cfg.kafka, clientId: cfg.kafka.clientId !== '' ? cfg.kafka.clientId : `holdfast-${gatewayId}` } }
}
