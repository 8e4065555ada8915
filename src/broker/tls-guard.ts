/**
 * Unfinished TLS handshakes, bounded: each raw socket on the TLS port must finish its handshake
 * within the connect timeout (a silent socket or a partial ClientHello is closed), and one source
 * address may have only so many handshakes open at once, so it cannot hold the whole connection
 * budget with sockets that never become MQTT clients.
 */
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'

export interface HandshakeGuardOptions {
  /** Handshakes one address may have open at once. */
  maxPerAddress: number
  /** A handshake not finished by then is closed (a backstop behind the TLS server's own timeout). */
  timeoutMs: number
  /** The socket was refused (over the per-address cap) and destroyed. */
  onRefused: (socket: Socket) => void
}

const keyOf = (s: { remoteAddress?: string; remotePort?: number }): string => `${s.remoteAddress}|${s.remotePort}`

export class HandshakeGuard {
  private readonly perAddress = new Map<string, number>()
  /** Open handshakes by address|port, to be finished by the TLS socket of the same connection. */
  private readonly open = new Map<string, () => void>()

  constructor(private readonly o: HandshakeGuardOptions) {}

  /** A raw socket arrived on the TLS port (after the connection gate); false = refused and destroyed. */
  admit(socket: Socket): boolean {
    const address = socket.remoteAddress ?? 'unknown'
    const n = this.perAddress.get(address) ?? 0
    if (n >= this.o.maxPerAddress) {
      socket.destroy()
      this.o.onRefused(socket)
      return false
    }
    this.perAddress.set(address, n + 1)
    const key = keyOf(socket)
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (this.open.get(key) === finish) this.open.delete(key)
      const left = (this.perAddress.get(address) ?? 1) - 1
      if (left > 0) this.perAddress.set(address, left)
      else this.perAddress.delete(address)
    }
    const timer = setTimeout(() => {
      finish()
      socket.destroy()
    }, this.o.timeoutMs)
    this.open.set(key, finish)
    socket.once('close', finish)
    return true
  }

  /** The handshake of this TLS socket completed: it no longer counts. */
  secured(tlsSocket: TLSSocket): void {
    this.open.get(keyOf(tlsSocket))?.()
  }

  /** Handshakes open now (all addresses). */
  get pending(): number {
    return this.open.size
  }
}
