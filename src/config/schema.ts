/**
 * The one description of every setting: type, bounds, default and doc. Flags and
 * HOLDFAST_* variables are derived from the path (`batch.lingerMs` → `--batch-linger-ms`,
 * `HOLDFAST_BATCH_LINGER_MS`) unless a field names its own flag.
 */
import { hostname } from 'node:os'
import { DEVICE_ID } from '../codec/reading.js'

interface Base {
  doc: string
  flag?: string
  secret?: boolean
}
export type FieldSpec =
  | (Base & { kind: 'int'; default: number; min: number; max: number })
  | (Base & { kind: 'number'; default: number; min: number; max: number })
  | (Base & { kind: 'string'; default: string; pattern?: RegExp; patternDoc?: string })
  | (Base & { kind: 'bool'; default: boolean })
  | (Base & { kind: 'enum'; default: string; values: readonly string[] })
  | (Base & { kind: 'list'; default: readonly string[]; pattern?: RegExp; patternDoc?: string })
  /** A JSON object of named entries (`devices.pump-1.quota.msgsPerS`), each checked against `entry`; unset entry fields stay absent. */
  | (Base & {
      kind: 'map'
      default: Readonly<Record<string, never>>
      keyPattern: RegExp
      keyDoc: string
      entry: SectionSpec
      required?: readonly string[]
    })
export interface SectionSpec {
  [key: string]: FieldSpec | SectionSpec
}

export function isField(s: FieldSpec | SectionSpec): s is FieldSpec {
  return typeof (s as FieldSpec).kind === 'string' && typeof (s as FieldSpec).doc === 'string'
}

/** Gateway ids, aggregation rule and priority class names. */
export const SHORT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const HOSTPORT = /^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/
const MiB = 1024 * 1024
/** An MQTT topic filter: levels of anything but wildcards, `+` alone in a level, `#` alone and last. */
const TOPIC_FILTER = /^(?=.)(?:(?:[^+#/\u0000]*|\+)\/)*(?:[^+#/\u0000]*|\+|#)$/
/** A topic filter an app may write to: not into `$SYS`, the broker's own (`#` is fine: wildcards never match `$`). */
const WRITE_FILTER = new RegExp(`^(?!\\$SYS(?:/|$))${TOPIC_FILTER.source.slice(1)}`)

/** Per-device quota fields: the defaults in `quota`, overridable per device in `devices.<id>.quota`. */
const QUOTA_FIELDS = {
  msgsPerS: {
    kind: 'number',
    default: 100,
    min: 0.01,
    max: 1_000_000,
    doc: 'Messages per second per device (token bucket); over it PUBACKs are held, nothing is dropped'
  },
  msgsBurst: {
    kind: 'int',
    default: 200,
    min: 1,
    max: 10_000_000,
    doc: 'Messages a device may send at once above its rate'
  },
  bytesPerS: {
    kind: 'int',
    default: MiB,
    min: 16,
    max: 1024 * MiB,
    doc: 'Bytes per second per device, payload plus MQTT 5 properties (token bucket); over it PUBACKs are held'
  },
  bytesBurst: {
    kind: 'int',
    default: 2 * MiB,
    min: 16,
    max: 1024 * MiB,
    doc: 'Bytes (payload plus MQTT 5 properties) a device may send at once above its rate'
  },
  maxPayloadBytes: {
    kind: 'int',
    default: 0,
    min: 0,
    max: 16 * MiB,
    doc: 'Largest payload per device; 0 = mqtt.maxPayloadBytes (which always applies)'
  },
  maxBufferedReadings: {
    kind: 'int',
    default: 0,
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    doc: 'Readings a device may hold in the buffer; 0 = no per-device cap (store.maxBytes still applies)'
  },
  maxBufferedBytes: {
    kind: 'int',
    default: 0,
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    doc: 'Buffer bytes a device may hold (payload + topic + 40 per reading); 0 = no per-device cap'
  },
  maxSessions: {
    kind: 'int',
    default: 2,
    min: 1,
    max: 1_000,
    doc: 'Concurrent MQTT sessions per device id (a reconnect with the same client id takes the old one over)'
  },
  subscribeFiltersPerS: {
    kind: 'number',
    default: 50,
    min: 0.01,
    max: 1_000_000,
    doc: 'Topic filters per second a device or app may SUBSCRIBE or UNSUBSCRIBE (token bucket); over it the packet is held, not refused'
  },
  subscribeFiltersBurst: {
    kind: 'int',
    default: 300,
    min: 1,
    max: 10_000_000,
    doc: 'Topic filters a device or app may SUBSCRIBE or UNSUBSCRIBE at once above its rate'
  },
  receiveMaximum: {
    kind: 'int',
    default: 64,
    min: 1,
    max: 65_535,
    doc: 'MQTT 5 Receive Maximum: unacknowledged QoS 1/2 publishes a device may have in flight (more: DISCONNECT 0x93)'
  }
} as const satisfies SectionSpec
const STORAGE_POLICY = {
  kind: 'enum',
  default: 'drop-oldest',
  values: ['drop-oldest', 'reject-new'],
  doc: "Over a storage quota: drop-oldest deletes the device's oldest readings, reject-new refuses the new one"
} as const
/** An Ed25519 public key: base64 of its 44-byte SPKI DER (`MCowBQYDK2VwAyEA…`), of its 32 raw bytes, or a PEM block. */
const ED25519_PUBLIC_KEY =
  /^(?:MCowBQYDK2VwAyEA[A-Za-z0-9+/]{43}=|[A-Za-z0-9+/]{43}=|-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\s]+-----END PUBLIC KEY-----\s*)$/
/**
 * `scrypt$N$r$p$salt$hash`, salt and hash in base64, as `holdfast devices` and `holdfast hash-password`
 * print (src/identity/secret.ts, src/status/password.ts).
 */
const SCRYPT_HASH = /^scrypt\$\d{1,8}\$\d{1,3}\$\d{1,3}\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/

export const schema = {
  gatewayId: {
    kind: 'string',
    default: '',
    pattern: SHORT_ID,
    patternDoc: '1-64 of A-Z a-z 0-9 . _ -, starting alphanumeric',
    doc: 'Gateway id; default: the host name'
  },
  dataDir: { kind: 'string', default: './data', doc: 'Folder for the buffer database and local state' },
  logLevel: {
    kind: 'enum',
    default: 'info',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    doc: 'pino log level'
  },
  mqtt: {
    host: { kind: 'string', default: '0.0.0.0', doc: 'MQTT listen address' },
    port: { kind: 'int', default: 1883, min: 1, max: 65535, doc: 'MQTT TCP port' },
    allowAnonymous: {
      kind: 'bool',
      default: false,
      flag: 'allow-anonymous',
      doc: 'Development switch: accept clients without credentials'
    },
    connectTimeoutMs: {
      kind: 'int',
      default: 10_000,
      min: 100,
      max: 300_000,
      doc: 'Close sockets that send no CONNECT within this time'
    },
    maxConnections: { kind: 'int', default: 5_000, min: 1, max: 1_000_000, doc: 'Cap on concurrent MQTT connections' },
    maxPayloadBytes: {
      kind: 'int',
      default: 256 * 1024,
      min: 16,
      max: 16 * MiB,
      doc: 'Largest PUBLISH payload accepted'
    },
    connRatePerAddress: {
      kind: 'number',
      default: 100,
      min: 0.1,
      max: 1_000_000,
      doc: 'New connections per second accepted from one source address'
    },
    connBurstPerAddress: {
      kind: 'int',
      default: 500,
      min: 1,
      max: 1_000_000,
      doc: 'New connections one source address may open at once'
    },
    authFailuresPerMin: {
      kind: 'number',
      default: 10,
      min: 0.1,
      max: 1_000_000,
      doc: 'Failed logins per minute tolerated from one address; past the burst its logins are refused'
    },
    authFailureBurst: {
      kind: 'int',
      default: 20,
      min: 1,
      max: 1_000_000,
      doc: 'Failed logins one address may make before the rate applies'
    },
    maxSubscriptionsPerClient: {
      kind: 'int',
      default: 1_000,
      min: 1,
      max: 1_000_000,
      doc: 'Subscriptions one connection may hold'
    },
    sessionExpiryMaxS: {
      kind: 'int',
      default: 86_400,
      min: 0,
      max: 4_294_967_295,
      doc: 'MQTT 5 Session Expiry Interval cap (s): longer requests are cut to it, echoed in CONNACK; 0 = no cap'
    },
    maxExpiringSessions: {
      kind: 'int',
      default: 10_000,
      min: 0,
      max: 10_000_000,
      doc: 'MQTT 5 sessions kept after their connection ended; past it a leaving session ends at once; 0 = no cap'
    },
    sessionQueueMaxBytes: {
      kind: 'int',
      default: MiB,
      min: 0,
      max: 1024 * MiB,
      doc: 'Bytes (payloads, MQTT 5 properties, topics) queued for a persistent session while its client is away; past it messages are not queued; 0 = no byte cap (1000 messages still apply)'
    },
    serverKeepAliveS: {
      kind: 'int',
      default: 0,
      min: 0,
      max: 65_535,
      doc: 'Longest keep-alive (s): MQTT 5 clients asking more (or 0) get it as Server Keep Alive, 3.1.1 ones are refused; 0 = any'
    },
    topicAliasMaximum: {
      kind: 'int',
      default: 16,
      min: 0,
      max: 65_535,
      doc: 'MQTT 5 Topic Alias Maximum offered to clients; 0 = no topic aliases'
    },
    maxRetainedPerClient: {
      kind: 'int',
      default: 100,
      min: 0,
      max: 1_000_000,
      doc: 'Distinct retained topics one device or app (or anonymous connection) may hold'
    },
    tls: {
      host: { kind: 'string', default: '', doc: 'TLS listen address; default mqtt.host' },
      port: {
        kind: 'int',
        default: 8883,
        min: 1,
        max: 65535,
        doc: 'MQTT over TLS port (on when certFile and keyFile are set)'
      },
      certFile: { kind: 'string', default: '', doc: 'PEM server certificate (chain); empty = no TLS listener' },
      keyFile: { kind: 'string', default: '', doc: 'PEM server private key' },
      caFile: {
        kind: 'string',
        default: '',
        doc: 'PEM CAs for client certificates; set = devices may log in with a certificate (id from CN or SAN)'
      },
      maxHandshakesPerAddress: {
        kind: 'int',
        default: 32,
        min: 1,
        max: 100_000,
        doc: 'Unfinished TLS handshakes one source address may have open (at most half of maxConnections)'
      }
    }
  },
  http: {
    host: { kind: 'string', default: '0.0.0.0', doc: 'Status page / API listen address' },
    port: { kind: 'int', default: 8080, min: 1, max: 65535, doc: 'Status page / API port' }
  },
  store: {
    synchronous: {
      kind: 'enum',
      default: 'full',
      values: ['full', 'normal'],
      doc: 'SQLite synchronous mode; full survives power loss, normal only process crashes'
    },
    commitWindowMs: {
      kind: 'int',
      default: 2,
      min: 0,
      max: 100,
      doc: 'Group commit waits up to this long for more readings (0 = next event-loop turn); fewer, fuller commits write far fewer bytes per reading'
    },
    maxBytes: {
      kind: 'int',
      default: 1024 * MiB,
      min: MiB,
      max: Number.MAX_SAFE_INTEGER,
      doc: 'Disk budget for buffered readings (payload + overhead bytes)'
    },
    minFreeBytes: {
      kind: 'int',
      default: 64 * MiB,
      min: 0,
      max: Number.MAX_SAFE_INTEGER,
      doc: 'Refuse new readings when the data volume has less free space than this'
    },
    retainMs: {
      kind: 'int',
      default: 0,
      min: 0,
      max: 365 * 24 * 3_600_000,
      doc: 'Keep raw readings this long after they were forwarded (within the disk budget, which takes them first); 0 = delete once Kafka has them'
    },
    compactAt: {
      kind: 'number',
      default: 0.9,
      min: 0.5,
      max: 1,
      doc: 'Share of the disk budget at which the oldest raw readings of topics with an aggregate rule are compacted into rollups, before anything is dropped'
    }
  },
  aggregate: {
    rules: {
      kind: 'map',
      default: {},
      keyPattern: SHORT_ID,
      keyDoc: 'a rule name (1-64 of A-Z a-z 0-9 . _ -)',
      entry: {
        topics: {
          kind: 'list',
          default: [],
          pattern: TOPIC_FILTER,
          patternDoc: 'MQTT topic filters',
          doc: 'Topics the rule applies to (first matching rule wins)'
        },
        mode: {
          kind: 'enum',
          default: 'both',
          values: ['raw', 'rollup', 'both'],
          doc: 'raw: forward readings as they came; rollup: forward only rollups; both'
        },
        windowMs: {
          kind: 'int',
          default: 10_000,
          min: 1_000,
          max: 24 * 3_600_000,
          doc: 'Tumbling window length, by event time'
        },
        latenessMs: {
          kind: 'int',
          default: 5_000,
          min: 0,
          max: 24 * 3_600_000,
          doc: 'How late (event time) a reading may be and still join its window'
        },
        fields: {
          kind: 'list',
          default: [],
          pattern: /^[^:,\s]{1,128}(?::[^,]{1,32})?$/,
          patternDoc: 'field names, optionally with a unit (`temp:°C`)',
          doc: 'Numeric fields to roll up (dotted paths for nested ones); empty = every numeric field'
        },
        timeField: {
          kind: 'string',
          default: '',
          pattern: /^[^\s]{1,128}$/,
          patternDoc: 'a field name',
          doc: 'Event-time field; empty = ts, time, timestamp or eventTime'
        },
        compact: {
          kind: 'bool',
          default: true,
          doc: 'Under disk pressure, compact old raw readings of these topics into rollups before dropping any'
        }
      },
      required: ['topics'],
      doc: 'Aggregation rules (JSON object): name -> { topics, mode, windowMs, latenessMs, fields, timeField, compact }'
    }
  },
  priority: {
    classes: {
      kind: 'map',
      default: {},
      keyPattern: SHORT_ID,
      keyDoc: 'a class name (1-64 of A-Z a-z 0-9 . _ -)',
      entry: {
        topics: {
          kind: 'list',
          default: [],
          pattern: TOPIC_FILTER,
          patternDoc: 'MQTT topic filters',
          doc: 'Topics in this class (the highest-priority matching class wins)'
        },
        priority: {
          kind: 'int',
          default: 0,
          min: 0,
          max: 15,
          doc: 'Higher is sent first when a backlog exists; 0 = bulk (with the live lane)'
        },
        rollupOnlyAt: {
          kind: 'number',
          default: 1,
          min: 0,
          max: 1,
          doc: 'Share of the uplink budget used from which only rollups of this class are sent (raw held)'
        },
        holdAt: {
          kind: 'number',
          default: 1,
          min: 0,
          max: 1,
          doc: 'Share of the uplink budget used from which this class is held locally'
        },
        exempt: {
          kind: 'bool',
          default: false,
          doc: 'Never held by the uplink budget (alarms): sent even when the budget is spent'
        }
      },
      required: ['topics', 'priority'],
      doc: 'Priority classes (JSON object): name -> { topics, priority, rollupOnlyAt, holdAt, exempt }; empty = alarm > event > telemetry'
    }
  },
  budget: {
    bytesPerDay: {
      kind: 'int',
      default: 0,
      min: 0,
      max: Number.MAX_SAFE_INTEGER,
      doc: 'Uplink bytes the gateway may send per UTC day; 0 = no budget'
    },
    bytesPerHour: {
      kind: 'int',
      default: 0,
      min: 0,
      max: Number.MAX_SAFE_INTEGER,
      doc: 'Uplink bytes per UTC hour; 0 = no hourly budget'
    }
  },
  quota: { ...QUOTA_FIELDS, storagePolicy: STORAGE_POLICY },
  devices: {
    kind: 'map',
    default: {},
    keyPattern: DEVICE_ID,
    keyDoc: 'a device id (1-128 of A-Z a-z 0-9 . _ : -, starting alphanumeric)',
    entry: {
      passwordHash: {
        kind: 'string',
        default: '',
        secret: true,
        pattern: SCRYPT_HASH,
        patternDoc: 'a hash printed by `holdfast hash-password`',
        doc: 'scrypt hash of the device secret (username = device id)'
      },
      storagePolicy: STORAGE_POLICY,
      quota: QUOTA_FIELDS
    },
    doc: 'Provisioned devices (JSON object, usually in the config file): id -> { passwordHash, storagePolicy, quota }'
  },
  apps: {
    kind: 'map',
    default: {},
    keyPattern: DEVICE_ID,
    keyDoc: 'an app account name (same characters as a device id)',
    entry: {
      passwordHash: {
        kind: 'string',
        default: '',
        secret: true,
        pattern: SCRYPT_HASH,
        patternDoc: 'a hash printed by `holdfast hash-password`',
        doc: 'scrypt hash of the app secret (username = app name)'
      },
      read: {
        kind: 'list',
        default: [],
        pattern: TOPIC_FILTER,
        patternDoc: 'MQTT topic filters',
        doc: 'Topic filters the app may subscribe to (within these)'
      },
      write: {
        kind: 'list',
        default: [],
        pattern: WRITE_FILTER,
        patternDoc: 'MQTT topic filters outside $SYS',
        doc: 'Topic filters the app may publish to'
      }
    },
    required: ['passwordHash'],
    doc: 'Local app accounts (JSON object): name -> { passwordHash, read: [filters], write: [filters] }'
  },
  kafka: {
    brokers: {
      kind: 'list',
      default: [],
      pattern: HOSTPORT,
      patternDoc: 'host:port',
      doc: 'Kafka bootstrap brokers, comma-separated; empty = no uplink (readings are kept)'
    },
    topic: {
      kind: 'string',
      default: 'holdfast.telemetry',
      pattern: /^[A-Za-z0-9._-]{1,249}$/,
      patternDoc: 'a Kafka topic name',
      doc: 'Topic readings are forwarded to'
    },
    clientId: { kind: 'string', default: '', doc: 'Kafka client id; default holdfast-<gatewayId>' },
    ssl: { kind: 'bool', default: false, doc: 'Use TLS to the brokers' },
    caFile: { kind: 'string', default: '', doc: 'PEM file of CAs trusted for the brokers (TLS)' },
    saslMechanism: {
      kind: 'enum',
      default: 'none',
      values: ['none', 'plain', 'scram-sha-256', 'scram-sha-512'],
      doc: 'SASL mechanism'
    },
    saslUsername: { kind: 'string', default: '', doc: 'SASL user name' },
    saslPassword: { kind: 'string', default: '', secret: true, doc: 'SASL password' },
    requestTimeoutMs: {
      kind: 'int',
      default: 5_000,
      min: 500,
      max: 120_000,
      doc: 'Per-request timeout; bounds how long a dead link goes unnoticed'
    }
  },
  batch: {
    maxReadings: { kind: 'int', default: 1000, min: 1, max: 100_000, doc: 'Readings per batch (Kafka message)' },
    maxBytes: {
      kind: 'int',
      default: 256 * 1024,
      min: 1024,
      max: 16 * MiB,
      doc: 'Raw payload bytes (with MQTT 5 metadata) per batch'
    },
    lingerMs: {
      kind: 'int',
      default: 5_000,
      min: 0,
      max: 60_000,
      doc: 'Longest a reading waits for company before it is sent (priority classes above 0 never wait)'
    },
    lingerReadingsPerDevice: {
      kind: 'int',
      default: 4,
      min: 1,
      max: 100_000,
      doc: 'Send as soon as the waiting readings average this many per device (small live batches compress badly)'
    },
    freshShare: {
      kind: 'number',
      default: 0.2,
      min: 0,
      max: 0.9,
      doc: 'Share of each send given to the newest readings while a backlog drains'
    },
    keyBy: {
      kind: 'enum',
      default: 'gateway',
      values: ['gateway', 'device'],
      doc: 'Kafka message key: gateway (a batch holds several devices; all of a gateway in one partition) or device (one device per batch)'
    },
    ledgerIntervalMs: {
      kind: 'int',
      default: 60_000,
      min: 100,
      max: 3_600_000,
      doc: 'How often the gateway sends a ledger control record accounting for its sequence numbers'
    }
  },
  uplink: {
    backoffMinMs: { kind: 'int', default: 250, min: 10, max: 60_000, doc: 'First retry delay after a failed send' },
    backoffMaxMs: { kind: 'int', default: 30_000, min: 100, max: 3_600_000, doc: 'Largest retry delay' },
    probeIntervalMs: {
      kind: 'int',
      default: 5_000,
      min: 100,
      max: 600_000,
      doc: 'Metadata probe interval when idle (keeps the state honest)'
    }
  },
  status: {
    public: {
      kind: 'bool',
      default: false,
      flag: 'status-public',
      doc: 'Open the status page, /api/status and /metrics without login (isolated LANs, tests); actions still need login'
    },
    passwordHash: {
      kind: 'string',
      default: '',
      secret: true,
      pattern: SCRYPT_HASH,
      patternDoc: 'a hash printed by `holdfast hash-password`',
      doc: 'scrypt hash of the technician password (`holdfast hash-password`); empty = no technician login'
    },
    metricsToken: {
      kind: 'string',
      default: '',
      secret: true,
      pattern: /^[\x21-\x7e]{16,256}$/,
      patternDoc: '16-256 printable characters, no spaces',
      doc: 'Bearer token accepted on /metrics (Prometheus scrapers)'
    },
    sessionTtlMs: {
      kind: 'int',
      default: 2 * 3_600_000,
      min: 1_000,
      max: 7 * 24 * 3_600_000,
      doc: 'A technician session expires this long after login'
    },
    loginMaxFailures: {
      kind: 'int',
      default: 5,
      min: 1,
      max: 1_000,
      doc: 'Failed logins allowed per client address within loginWindowMs; then that address is refused until the window passes'
    },
    loginWindowMs: {
      kind: 'int',
      default: 5 * 60_000,
      min: 1_000,
      max: 24 * 3_600_000,
      doc: 'Window for counting failed logins per address'
    },
    pushIntervalMs: {
      kind: 'int',
      default: 1_000,
      min: 100,
      max: 60_000,
      doc: 'How often the page receives fresh figures (server-sent events)'
    },
    hostIntervalMs: {
      kind: 'int',
      default: 5_000,
      min: 500,
      max: 600_000,
      doc: 'How often host health (CPU, memory, disk, temperature) is sampled'
    },
    metricsMaxDevices: {
      kind: 'int',
      default: 200,
      min: 0,
      max: 100_000,
      doc: 'Devices with their own /metrics series; the rest are summed under device="_other"'
    }
  },
  remote: {
    enabled: {
      kind: 'bool',
      default: false,
      doc: 'Take signed configuration documents from the config topic (src/remote-config); false = local configuration only'
    },
    configTopic: {
      kind: 'string',
      default: 'holdfast.config',
      pattern: /^[A-Za-z0-9._-]{1,249}$/,
      patternDoc: 'a Kafka topic name',
      doc: 'Compacted topic of signed documents, keyed by gateway id (* = fleet default)'
    },
    statusTopic: {
      kind: 'string',
      default: 'holdfast.status',
      pattern: /^[A-Za-z0-9._-]{1,249}$/,
      patternDoc: 'a Kafka topic name',
      doc: 'Topic the gateway reports applied/rejected/rolled-back events and heartbeats to'
    },
    trustedKeys: {
      kind: 'list',
      default: [],
      pattern: ED25519_PUBLIC_KEY,
      patternDoc: 'Ed25519 public keys (base64 SPKI as `holdfast fleet keygen` prints, or PEM)',
      doc: 'Operator public keys whose signatures are trusted'
    },
    trustedKeysFile: {
      kind: 'string',
      default: '',
      doc: 'File of further trusted public keys (PEM blocks, or one base64 key per line)'
    },
    groups: {
      kind: 'list',
      default: [],
      pattern: /^[a-z][a-z0-9_-]{0,31}=[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
      patternDoc: 'groups as name=value (site=plant-7, hw=pi4)',
      doc: 'Groups this gateway belongs to; their documents layer over the fleet default in this order (later wins), under its own document'
    },
    heartbeatIntervalMs: {
      kind: 'int',
      default: 60_000,
      min: 1_000,
      max: 24 * 3_600_000,
      doc: 'How often a heartbeat (uplink, backlog, drops, health, versions) goes to the status topic'
    },
    planTimeoutMs: {
      kind: 'int',
      default: 30_000,
      min: 1_000,
      max: 600_000,
      doc: 'How long the thread working out what a document would do has to answer; past it the document is rejected (planning_failed)'
    },
    planHeapMb: {
      kind: 'int',
      default: 256,
      min: 8,
      max: 4_096,
      doc: 'Heap of the thread working out what a document would do; a document whose plan needs more is rejected (planning_failed)'
    }
  }
} as const satisfies SectionSpec

/**
 * Settings a remote document cannot change while the gateway runs, and why (a path covers what is
 * under it). Every other setting is applied live by remote configuration (src/remote-config).
 * `restart`: taken only at start — listeners, the buffer's open mode, the status page; `local`: the
 * box's identity, its files and secrets, and its trust in operators, never set remotely; `live`
 * marks the exceptions inside a marked section.
 */
export type RemoteMark = 'live' | 'restart' | 'local'
export const NOT_LIVE: Readonly<Record<string, RemoteMark>> = {
  gatewayId: 'local',
  dataDir: 'local',
  logLevel: 'restart',
  mqtt: 'restart',
  'mqtt.allowAnonymous': 'local',
  'mqtt.tls': 'local',
  'mqtt.authFailuresPerMin': 'live',
  'mqtt.authFailureBurst': 'live',
  'mqtt.maxSubscriptionsPerClient': 'live',
  'mqtt.maxRetainedPerClient': 'live',
  http: 'restart',
  'store.synchronous': 'restart',
  'store.commitWindowMs': 'restart',
  status: 'restart',
  'status.passwordHash': 'local',
  'status.metricsToken': 'local',
  remote: 'local'
}

/** How a setting takes a remote change: `live`, or the NOT_LIVE mark of its nearest marked path. */
export function remoteMark(path: string): RemoteMark {
  const keys = path.split('.')
  for (let i = keys.length; i > 0; i--) {
    const m = NOT_LIVE[keys.slice(0, i).join('.')]
    if (m !== undefined) return m
  }
  return 'live'
}

/*
 * The typed view of a validated configuration is derived from `schema`, so the two cannot drift:
 * int/number → number, string → string, bool → boolean, enum → its values, list → string[], map →
 * a record of entries whose `required` fields are required and the rest optional (absent = default).
 */
type FieldValue<F> = F extends { kind: 'int' | 'number' }
  ? number
  : F extends { kind: 'string' }
    ? string
    : F extends { kind: 'bool' }
      ? boolean
      : F extends { kind: 'enum'; values: readonly (infer V)[] }
        ? V
        : F extends { kind: 'list' }
          ? string[]
          : F extends { kind: 'map'; entry: infer E }
            ? Readonly<Record<string, EntryOf<E, F extends { required: readonly (infer R)[] } ? R : never>>>
            : never
type Simplify<T> = { [K in keyof T]: T[K] } & {}
type IsField<S> = S extends { kind: string; doc: string } ? true : false
/** The validated values of a schema section. */
export type SectionOf<S> = { [K in keyof S]: IsField<S[K]> extends true ? FieldValue<S[K]> : SectionOf<S[K]> }
/** One map entry as written: required fields, the rest optional, nested sections partial. */
type EntryOf<E, R> = Simplify<
  { [K in keyof E as K extends R ? K : never]: EntryValue<E[K]> } & {
    [K in keyof E as K extends R ? never : K]?: EntryValue<E[K]>
  }
>
type EntryValue<S> = IsField<S> extends true ? FieldValue<S> : Partial<SectionOf<S>>

/** Typed view of a validated configuration, derived from `schema`. */
export type Config = SectionOf<typeof schema>
export type StoragePolicy = (typeof STORAGE_POLICY)['values'][number]
export type QuotaConfig = SectionOf<typeof QUOTA_FIELDS>
/** One provisioned device; absent fields fall back to `quota`. */
export type DeviceConfig = Config['devices'][string]
export type AppConfig = Config['apps'][string]
/** One aggregation rule; absent fields take the defaults in the schema. */
export type AggregateRuleConfig = Config['aggregate']['rules'][string]
/** One priority class; absent fields take the defaults in the schema. */
export type PriorityClassConfig = Config['priority']['classes'][string]

/** Defaults that depend on the host are filled in here, after validation. */
export function hostDefaults(cfg: Config): Config {
  const gatewayId =
    cfg.gatewayId !== ''
      ? cfg.gatewayId
      : hostname()
          .replace(/[^A-Za-z0-9._-]/g, '-')
          .slice(0, 64) || 'holdfast'
  return {
    ...cfg,
    gatewayId,
    kafka: { ...cfg.kafka, clientId: cfg.kafka.clientId !== '' ? cfg.kafka.clientId : `holdfast-${gatewayId}` }
  }
}
