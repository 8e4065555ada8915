/** The MQTT broker: aedes behind a plain TCP listener, with admission hooks wired in. */
import { Aedes } from 'aedes'
import { createServer, type Server, type Socket } from 'node:net'
import type { Logger } from '../log.js'
import type { Admission } from './admission.js'

export interface BrokerOptions {
  host: string
  port: number
  connectTimeoutMs: number
  maxConnections: number
  admission: Admission
  log: Logger
}

export interface Broker {
  aedes: Aedes
  server: Server
  listening: () => boolean
  connections: () => number
  close: () => Promise<void>
}

export async function startBroker (opts: BrokerOptions): Promise<Broker> {
  const { admission, log } = opts
  const aedes = await Aedes.createBroker({
    connectTimeout: opts.connectTimeoutMs,
    authenticate: admission.authenticate,
    authorizePublish: admission.authorizePublish,
    authorizeSubscribe: admission.authorizeSubscribe,
    // Client ids up to 128 chars: device ids are often serials or MACs with prefixes.
    maxClientsIdLength: 128
  })
  aedes.on('clientDisconnect', (c) => admission.clientGone(c))
  aedes.on('clientError', (c, err) => log.debug({ client: c.id, err: err.message }, 'client error'))
  aedes.on('connectionError', (c, err) => log.debug({ client: c?.id, err: err.message }, 'connection error'))

  const server = createServer((socket: Socket) => {
    // Nagle would hold PUBACKs back for up to tens of ms.
    socket.setNoDelay(true)
    aedes.handle(socket)
  })
  server.maxConnections = opts.maxConnections
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  log.info({ host: opts.host, port: opts.port }, 'mqtt listening')

  return {
    aedes,
    server,
    listening: () => server.listening,
    connections: () => aedes.connectedClients,
    close: async () => {
      // Stop accepting first; the listener's close completes once aedes has ended every client.
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
      await stopped
    }
  }
}
