/**
 * The one catalogue of codes (HF_ERR_* for failures and refusals, HF_WARN_* for conditions worth a
 * technician's look). Every code logged, thrown or returned is declared here with its meaning; the code
 * travels to logs, the status API and tests, which assert on the code, never on the message.
 * test/errors.catalogue.test.ts fails when src/ and this list disagree, and when the README's table of
 * codes differs from it.
 */
export const ErrorCodes = {
  HF_ERR_CONFIG_INVALID: 'invalid configuration',
  HF_ERR_CONFIG_FILE: 'configuration file unreadable',
  HF_ERR_USAGE: 'bad command line',
  HF_ERR_STORE_OPEN: 'buffer database could not be opened',
  HF_ERR_STORE_COMMIT: 'buffer commit failed',
  HF_ERR_STORE_SYNC:
    'buffer WAL sync (fsync) failed: the gateway stops (exit 75) and recovers the buffer from disk at its restart',
  HF_ERR_STORE_CORRUPT: 'buffer database damaged',
  HF_ERR_STORE_CHECKPOINT: 'WAL checkpoints (on the background thread) failed; checkpoints run inline',
  HF_ERR_STORE_BUSY: 'buffer database locked by another process (busy, not damaged)',
  HF_ERR_DATA_DIR: 'data directory missing, not a directory or not writable',
  HF_ERR_DATA_DIR_IN_USE: 'data directory in use by another running gateway',
  HF_ERR_AUTH_ANONYMOUS: 'anonymous client refused',
  HF_ERR_AUTH_BAD_CREDENTIALS: 'bad device credentials',
  HF_ERR_AUTH_SECRET_ROTATED: 'session closed: the secret it was opened with was rotated or removed',
  HF_ERR_AUTH_ACCOUNT_CHANGED: 'session closed: the app account it was opened with changed or was removed',
  HF_ERR_AUTH_RATE_LIMITED: 'too many failed logins from this address',
  HF_ERR_ACL_PUBLISH: "publish outside the client's own topics",
  HF_ERR_ACL_SUBSCRIBE: "subscription outside the client's own topics",
  HF_ERR_TOPIC_INVALID: 'topic invalid',
  HF_ERR_PAYLOAD_TOO_LARGE: 'payload over the size limit',
  HF_ERR_QUOTA_STORAGE: 'device storage quota exhausted',
  HF_ERR_DISK_BUDGET: 'gateway disk budget exhausted',
  HF_ERR_CONN_LIMIT: 'connection limit reached',
  HF_ERR_CONN_RATE: 'too many new connections from this address',
  HF_ERR_CONNECT_TIMEOUT: 'no CONNECT within mqtt.connectTimeoutMs',
  HF_ERR_PROTOCOL: 'malformed MQTT packet or protocol violation',
  HF_ERR_PACKET_TOO_LARGE: 'MQTT packet over the size limit',
  HF_ERR_RECEIVE_MAXIMUM: 'MQTT 5 client sent more unacknowledged QoS 1/2 publishes than the Receive Maximum',
  HF_ERR_FORWARD_TOO_LARGE: "message not sent: over the MQTT 5 client's Maximum Packet Size",
  HF_ERR_FORWARD_QUEUE_FULL:
    "message not sent: too many already waiting under the MQTT 5 client's Receive Maximum, or its away session's queue is full (messages or bytes)",
  HF_ERR_AUTH_UNKNOWN: 'unknown device or app',
  HF_ERR_AUTH_CERT_MISMATCH: "user name differs from the client certificate's id",
  HF_ERR_AUTH_BUSY: 'too many logins being checked',
  HF_ERR_SESSION_LIMIT: 'device has its maximum number of sessions',
  HF_ERR_CLIENT_ID_TAKEN: 'client id in use by, or reserved for, another device or app',
  HF_ERR_CLIENT_ID_INVALID: 'client id longer than 256 bytes',
  HF_ERR_SUBSCRIPTION_LIMIT: 'connection has its maximum number of subscriptions',
  HF_ERR_RETAINED_LIMIT: 'client has its maximum number of retained topics',
  HF_ERR_WILL_RATE: "a will over its device's rate quota: not stored (wills cannot be slowed)",
  HF_ERR_CREDENTIALS_FILE: 'device credentials file unreadable or invalid',
  HF_ERR_TLS_CONFIG: 'TLS certificate or key unreadable',
  HF_ERR_TLS_HANDSHAKE_LIMIT: 'too many unfinished TLS handshakes from this address',
  HF_ERR_UPLINK: 'the uplink failed: a send, or the probe before one',
  HF_ERR_UPLINK_TLS: "the Kafka broker's TLS certificate is not trusted (kafka.caFile) or TLS failed",
  HF_ERR_UPLINK_AUTH: 'the Kafka broker refused the SASL credentials',
  HF_ERR_DECODE: 'batch could not be decoded',
  HF_ERR_EXPAND_TRANSACTION: 'expand: a transaction failed and was aborted; its input is read again',
  HF_ERR_UPLINK_UNCONFIGURED: 'no uplink configured',
  HF_ERR_LOGIN_REQUIRED: 'technician login required',
  HF_ERR_LOGIN_FAILED: 'wrong technician password',
  HF_ERR_LOGIN_UNAVAILABLE: 'no technician password configured',
  HF_ERR_CSRF: 'missing or wrong CSRF token, or cross-site request',
  HF_ERR_STOPPING: 'the gateway is stopping',
  HF_ERR_DEVICE_UNKNOWN: 'no device with this id has been seen since start',
  HF_ERR_ACTION_FAILED: 'technician action failed',
  HF_ERR_REMOTE: 'remote configuration step failed',
  HF_ERR_REMOTE_REJECTED: 'remote configuration document rejected',
  HF_ERR_REMOTE_PLAN:
    'remote configuration document not planned: its planning thread failed or did not answer within remote.planTimeoutMs',
  HF_ERR_REMOTE_ROLLBACK: 'remote configuration rolled back to the last confirmed one',
  HF_ERR_REMOTE_REPORT: 'remote configuration report not sent or not saved',
  HF_ERR_REMOTE_WATCH: 'remote configuration topic consumer failed or stopped',
  HF_WARN_ANONYMOUS: 'anonymous MQTT clients allowed (development only)',
  HF_WARN_CLOCK_CORRECTED: 'wall clock set: receive times stored while it was wrong were corrected',
  HF_WARN_SDNOTIFY: 'systemd notification (readiness or watchdog) failed',
  HF_WARN_SESSION_EVICTED:
    'a persistent session ended early: its device or app keeps more than 16, or mqtt.maxExpiringSessions was reached',
  HF_WARN_SUBSCRIBE_RATE:
    'SUBSCRIBE/UNSUBSCRIBE held: the device or app is over its subscription rate quota (quota.subscribeFiltersPerS)',
  HF_WARN_STORE_SYNC_INLINE:
    'the commit worker, which also syncs the WAL, failed: group commits sync on the broker thread again (slower, still durable)',
  HF_WARN_STORE_COMMIT_INLINE:
    'commit worker failed: group commits run on the broker thread again (slower, still durable)',
  HF_WARN_FORWARD_READ_INLINE:
    'a read worker failed: requests are read and encoded on the broker thread, or compressed on the thread pool, again',
  HF_ERR_FORWARD_READ: 'reading the buffer for a produce request failed (retried after a backoff)',
  HF_WARN_HOST_FACTS: 'host facts (on the background thread) failed: the status page keeps its last host sample',
  HF_ERR_FLEET_TOO_LARGE: 'signed document over the size the config topic takes',
  HF_ERR_FLEET_KAFKA: 'the Kafka cluster refused or did not answer a fleet command',
  HF_ERR_FLEET_TOPIC: 'the topic does not look like a Holdfast config or status topic'
} as const

export type ErrorCode = keyof typeof ErrorCodes

export class HoldfastError extends Error {
  readonly code: ErrorCode
  readonly details: Record<string, unknown>

  constructor(code: ErrorCode, message?: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message ?? ErrorCodes[code], options)
    this.name = 'HoldfastError'
    this.code = code
    this.details = details
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.details }
  }
}

export function isHoldfastError(err: unknown, code?: ErrorCode): err is HoldfastError {
  return err instanceof HoldfastError && (code === undefined || err.code === code)
}
