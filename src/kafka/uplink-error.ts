/**
 * Kafka failures a technician can fix, given a code: a broker certificate the configured CAs do not
 * trust (or TLS spoken to a plain listener) and refused SASL credentials. Anything else passes as is.
 */
import { HoldfastError } from '../errors.js'

/** Node's / OpenSSL's codes for a refused peer certificate or a failed TLS handshake. */
const TLS_CODE = /^(UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|CERT_|HOSTNAME_MISMATCH|ERR_TLS_CERT|ERR_SSL_)/

interface Chain {
  name?: string
  message?: string
  code?: unknown
  cause?: unknown
  originalError?: unknown
}

/** The error itself and what it wraps (kafkajs nests the socket's error in `cause` or `originalError`). */
function* chain(err: unknown): Generator<Chain> {
  let e = err as Chain | undefined
  for (let depth = 0; e !== undefined && e !== null && depth < 6; depth++) {
    yield e
    e = (e.cause ?? e.originalError) as Chain | undefined
  }
}

export function codedUplinkError(err: unknown): unknown {
  if (err instanceof HoldfastError) return err
  for (const e of chain(err)) {
    if (typeof e.code === 'string' && TLS_CODE.test(e.code)) {
      return new HoldfastError(
        'HF_ERR_UPLINK_TLS',
        `TLS to the Kafka broker failed (${e.code}: ${e.message ?? ''}): check kafka.caFile and kafka.ssl`,
        { tlsCode: e.code },
        { cause: err }
      )
    }
    if (e.name === 'KafkaJSSASLAuthenticationError') {
      return new HoldfastError(
        'HF_ERR_UPLINK_AUTH',
        `the Kafka broker refused the SASL login (${e.message ?? ''}): check kafka.saslUsername and kafka.saslPassword`,
        {},
        { cause: err }
      )
    }
  }
  return err
}
