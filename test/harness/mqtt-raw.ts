/** MQTT 3.1.1 packets as raw bytes, for sending what no well-behaved client library would. */
import { connect, type Socket } from 'node:net'

export function varint(n: number): Buffer {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

export const str = (s: string | Buffer): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s
  const h = Buffer.alloc(2)
  h.writeUInt16BE(b.length)
  return Buffer.concat([h, b])
}

export const packet = (header: number, body: Buffer): Buffer =>
  Buffer.concat([Buffer.from([header]), varint(body.length), body])

export function connectPacket(
  clientId: string,
  username?: string,
  password?: string,
  keepalive = 30,
  clean = true
): Buffer {
  let flags = clean ? 0x02 : 0
  const payload = [str(clientId)]
  if (username !== undefined) {
    flags |= 0x80
    payload.push(str(username))
  }
  if (password !== undefined) {
    flags |= 0x40
    payload.push(str(password))
  }
  return packet(
    0x10,
    Buffer.concat([Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, flags, keepalive >> 8, keepalive & 0xff]), ...payload])
  )
}

export function publishPacket(
  topic: string | Buffer,
  payload: Buffer | string,
  qos: 0 | 1 | 2 = 0,
  id = 1,
  flags = 0
): Buffer {
  const idBytes = qos > 0 ? Buffer.from([id >> 8, id & 0xff]) : Buffer.alloc(0)
  return packet(0x30 | (qos << 1) | flags, Buffer.concat([str(topic), idBytes, Buffer.from(payload)]))
}

export function subscribePacket(id: number, filters: Array<string | Buffer>, qos = 1): Buffer {
  return packet(
    0x82,
    Buffer.concat([Buffer.from([id >> 8, id & 0xff]), ...filters.map(f => Buffer.concat([str(f), Buffer.from([qos])]))])
  )
}

export function unsubscribePacket(id: number, filters: string[]): Buffer {
  return packet(0xa2, Buffer.concat([Buffer.from([id >> 8, id & 0xff]), ...filters.map(f => str(f))]))
}

export const PINGREQ = Buffer.from([0xc0, 0])
export const DISCONNECT = Buffer.from([0xe0, 0])

/** A TCP socket to 127.0.0.1 that records what it receives and when it closed. */
export interface Raw {
  socket: Socket
  received: Buffer[]
  closed: Promise<number>
}

export async function openRaw(port: number): Promise<Raw> {
  const socket = connect({ host: '127.0.0.1', port })
  const received: Buffer[] = []
  socket.on('data', d => received.push(d))
  socket.on('error', () => {})
  const t0 = Date.now()
  const closed = new Promise<number>(resolve => socket.once('close', () => resolve(Date.now() - t0)))
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('close', () => reject(new Error('closed before connecting')))
  })
  return { socket, received, closed }
}

/** Resolves true if the socket closed within `ms`. */
export async function closesWithin(raw: Raw, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const closed = await Promise.race([
    raw.closed.then(() => true),
    new Promise<boolean>(resolve => (timer = setTimeout(() => resolve(false), ms)))
  ])
  clearTimeout(timer)
  return closed
}

/** Open, send CONNECT, wait for CONNACK; returns its return code. */
export async function rawLogin(
  port: number,
  clientId: string,
  username?: string,
  password?: string
): Promise<{ raw: Raw; code: number }> {
  return await loginWith(port, connectPacket(clientId, username, password))
}

/** The same over MQTT 5 (connect5Packet): returns the CONNACK's reason code. */
export async function rawLogin5(
  port: number,
  clientId: string,
  username: string,
  password: string
): Promise<{ raw: Raw; code: number }> {
  return await loginWith(port, connect5Packet(clientId, username, password))
}

async function loginWith(port: number, connect: Buffer): Promise<{ raw: Raw; code: number }> {
  const raw = await openRaw(port)
  raw.socket.write(connect)
  const deadline = Date.now() + 5000
  while (Date.now() < deadline) {
    const all = Buffer.concat(raw.received)
    if (all.length >= 4 && all[0] === 0x20) return { raw, code: all[3]! }
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  throw new Error('no CONNACK')
}

/** MQTT 5 CONNECT (user name, password, clean start) with a raw properties block. */
export function connect5Packet(
  clientId: string,
  username: string,
  password: string,
  props: Buffer = Buffer.alloc(0)
): Buffer {
  return packet(
    0x10,
    Buffer.concat([
      Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 5, 0xc2, 0, 30]),
      varint(props.length),
      props,
      str(clientId),
      str(username),
      str(password)
    ])
  )
}

/** MQTT 5 PUBLISH with a raw properties block. */
export function publish5Packet(
  topic: string,
  payload: Buffer | string,
  qos: 0 | 1 | 2,
  id: number,
  props: Buffer
): Buffer {
  const idBytes = qos > 0 ? Buffer.from([id >> 8, id & 0xff]) : Buffer.alloc(0)
  return packet(
    0x30 | (qos << 1),
    Buffer.concat([str(topic), idBytes, varint(props.length), props, Buffer.from(payload)])
  )
}

/** The packet types (and a DISCONNECT's reason code) in what the server sent, in order. */
export function packetsIn(bytes: Buffer): Array<{ type: number; reason?: number }> {
  const out: Array<{ type: number; reason?: number }> = []
  let i = 0
  while (i < bytes.length) {
    const type = bytes[i]! >> 4
    let len = 0
    let mul = 1
    let j = i + 1
    for (;;) {
      const b = bytes[j++]!
      len += (b & 0x7f) * mul
      mul *= 128
      if ((b & 0x80) === 0) break
    }
    out.push(type === 14 && len > 0 ? { type, reason: bytes[j]! } : { type })
    i = j + len
  }
  return out
}
