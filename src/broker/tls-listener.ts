/**
 * The MQTT-over-TLS listener: raw sockets pass the connection gate and the handshake guard before
 * any TLS work; a handshake that fails or times out closes its socket; the certificate, key and CA
 * files are watched and a renewed set is taken for new connections without a restart (sessions
 * already open keep running on the old one).
 */
import { LogThrottle } from '../log-throttle.js'
import { readFile, readFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import {
  createServer as createTlsServer,
  type SecureContextOptions,
  type Server as TlsServer,
  type TLSSocket
} from 'node:tls'
import { HoldfastError } from '../errors.js'
import type { Logger } from '../log.js'
import type { Counters } from '../metrics/counters.js'
import { watchFiles } from '../platform/file-watch.js'
import { HandshakeGuard } from './tls-guard.js'

export interface TlsListenerOptions {
  certFile: string
  keyFile: string
  caFile: string
  connectTimeoutMs: number
  maxHandshakesPerAddress: number
  /** Connection admission (shared with the plain listener): false = refused and destroyed. */
  gate: (socket: Socket) => boolean
  /** A secured socket for aedes. */
  handle: (socket: TLSSocket) => void
  counters: Counters
  log: Logger
  /** How often the files are checked for a renewal. */
  reloadCheckMs?: number
}

function readSync(file: string, what: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new HoldfastError(
      'HF_ERR_TLS_CONFIG',
      `cannot read mqtt.tls.${what} ${file}: ${(err as Error).message}`,
      { file },
      { cause: err }
    )
  }
}

const read = async (file: string): Promise<Buffer> =>
  await new Promise((resolve, reject) => readFile(file, (err, b) => (err === null ? resolve(b) : reject(err))))

export function createTlsListener(o: TlsListenerOptions): { server: TlsServer; close: () => void } {
  const { counters, log } = o
  const ca = o.caFile !== '' ? readSync(o.caFile, 'caFile') : undefined
  let server: TlsServer
  try {
    server = createTlsServer(
      {
        cert: readSync(o.certFile, 'certFile'),
        key: readSync(o.keyFile, 'keyFile'),
        ca,
        // Ask for a client certificate when a CA is configured, but let password logins in without one:
        // the certificate is checked (authorized) and mapped to an id at CONNECT (src/identity/cert.ts).
        requestCert: ca !== undefined,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
        handshakeTimeout: o.connectTimeoutMs
      },
      (socket: TLSSocket) => {
        guard.secured(socket)
        o.handle(socket)
      }
    )
  } catch (err) {
    throw new HoldfastError('HF_ERR_TLS_CONFIG', `mqtt.tls: ${(err as Error).message}`, {}, { cause: err })
  }
  const refusalLogs = new LogThrottle()
  const guard = new HandshakeGuard({
    maxPerAddress: o.maxHandshakesPerAddress,
    timeoutMs: o.connectTimeoutMs + 1000,
    onRefused: socket => {
      counters.refuse('tls_handshake_limit')
      if (refusalLogs.due('') !== null) {
        log.warn(
          { code: 'HF_ERR_TLS_HANDSHAKE_LIMIT', address: socket.remoteAddress, limit: o.maxHandshakesPerAddress },
          'tls connection refused: too many unfinished handshakes from this address'
        )
      }
    }
  })
  // Raw sockets are gated before the (costly) handshake.
  server.prependListener('connection', (socket: Socket) => {
    if (o.gate(socket)) guard.admit(socket)
  })
  // With a listener here Node leaves the socket open: close it, or a silent client keeps its slot.
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    socket.destroy()
    counters.refuse(err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'connect_timeout' : 'tls_error')
    log.debug({ err: err.message, code: err.code }, 'tls handshake failed')
  })

  const files = [o.certFile, o.keyFile, ...(o.caFile !== '' ? [o.caFile] : [])]
  const reload = async (): Promise<void> => {
    const [cert, key, caNext] = await Promise.all([
      read(o.certFile),
      read(o.keyFile),
      o.caFile !== '' ? read(o.caFile) : Promise.resolve(undefined)
    ])
    const next: SecureContextOptions = { cert, key, ca: caNext, minVersion: 'TLSv1.2' }
    server.setSecureContext(next)
  }
  const watch = watchFiles(files, o.reloadCheckMs ?? 2000, () => {
    reload().then(
      () => log.info({ certFile: o.certFile }, 'mqtt tls certificate reloaded: new connections use it'),
      (err: unknown) =>
        log.error(
          { code: 'HF_ERR_TLS_CONFIG', certFile: o.certFile, err: (err as Error).message },
          'mqtt tls files changed but are not usable (a half-written renewal?); keeping the previous certificate'
        )
    )
  })
  return { server, close: watch.close }
}
