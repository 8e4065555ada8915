/**
 * Connections the listener refuses before any MQTT (too many open, too many new ones from an address):
 * an MQTT 5 client is told why with a CONNACK (0x89 Server busy, 0x9F Connection rate exceeded) and a
 * Reason String; anything else (3.1.1, not MQTT, silence) is closed as before, without a CONNACK.
 * To know the protocol, only the CONNECT's first bytes (up to its protocol level) are read, for at most
 * WAIT_MS (a client sends CONNECT right after the TCP handshake), and only MAX_WAITING refused sockets
 * wait at once: past that, under a flood, they are closed at once as before.
 */
import type { Socket } from 'node:net'
import { generate } from 'mqtt-packet'

const WAIT_MS = 150
const MAX_WAITING = 32
/** Fixed header (≤ 5), protocol name length (2) and name (≤ 6: "MQIsdp"), level (1). */
const MAX_HEADER = 14

export type Refuse = (socket: Socket, reasonCode: number, reasonString: string) => void

export function createRefuser(): Refuse {
  let waiting = 0
  return (socket, reasonCode, reasonString) => {
    if (waiting >= MAX_WAITING) {
      socket.destroy()
      return
    }
    waiting++
    let head = Buffer.alloc(0)
    let settled = false
    const settle = (v5: boolean): void => {
      if (settled) return
      settled = true
      waiting--
      clearTimeout(timer)
      socket.removeListener('data', onData)
      if (!v5) {
        socket.destroy()
        return
      }
      const connack = generate(
        { cmd: 'connack', sessionPresent: false, reasonCode, properties: { reasonString } } as Parameters<
          typeof generate
        >[0],
        { protocolVersion: 5 }
      )
      // The rest of the CONNECT is not read; the socket is destroyed once the CONNACK is written.
      socket.end(connack, () => socket.destroy())
      setTimeout(() => socket.destroy(), WAIT_MS).unref()
    }
    const onData = (d: Buffer): void => {
      head = Buffer.concat([head, d]).subarray(0, MAX_HEADER)
      const level = protocolLevel(head)
      if (level !== undefined) settle(level === 5)
    }
    const timer = setTimeout(() => settle(false), WAIT_MS)
    socket.on('data', onData)
    socket.on('error', () => settle(false))
    socket.once('close', () => settle(false))
  }
}

/** The protocol level of a CONNECT's start; null when it is none; undefined while bytes are missing. */
export function protocolLevel(b: Buffer): number | null | undefined {
  if (b.length === 0) return undefined
  if (b[0] !== 0x10) return null
  let i = 1
  while (i < b.length && (b[i]! & 0x80) !== 0) {
    if (++i > 4) return null
  }
  if (i >= b.length) return undefined
  const name = i + 1
  if (b.length < name + 2) return undefined
  const nameLength = b.readUInt16BE(name)
  if (nameLength > 6) return null
  const level = name + 2 + nameLength
  if (b.length <= level) return b.length >= MAX_HEADER ? null : undefined
  return b[level]!
}
