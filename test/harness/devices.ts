/** Provisioned devices for tests: config files with hashed secrets, and MQTT clients that log in as them. */
import mqtt from 'mqtt'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hashSecret } from '../../src/identity/secret.js'
import { GatewayProcess } from './gateway.js'

/** Tests use a cheap scrypt cost so 50 devices hash in well under a second; the gateway reads the cost from the hash. */
export const hashCheap = async (secret: string): Promise<string> => await hashSecret(secret, { N: 1024, r: 8, p: 1 })

export const secretOf = (id: string): string => `secret-${id}`

/** `devices` config entries for ids, each with secret `secret-<id>` and optional extra fields. */
export async function devicesConfig(
  ids: string[],
  extra: (id: string) => Record<string, unknown> = () => ({})
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  await Promise.all(
    ids.map(async id => {
      out[id] = { passwordHash: await hashCheap(secretOf(id)), ...extra(id) }
    })
  )
  return out
}

export function writeConfig(doc: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'hf-cfg-')), 'holdfast.json')
  writeFileSync(file, JSON.stringify(doc))
  return file
}

export type Opts = mqtt.IClientOptions

/** Connect once (no reconnects), as device `id` with its test secret unless opts say otherwise. */
export async function connectAs(url: string, id: string, opts: Opts = {}): Promise<mqtt.MqttClient> {
  return await mqtt.connectAsync(url, {
    clientId: id,
    username: id,
    password: secretOf(id),
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...opts
  })
}

/** The error a refused connection ends with (rejects if it was accepted). */
export async function refusal(url: string, opts: Opts): Promise<string> {
  try {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts })
    c.end(true)
  } catch (err) {
    return (err as Error).message
  }
  throw new Error(`connection with ${JSON.stringify({ ...opts, password: '…' })} was accepted`)
}

export async function closed(c: mqtt.MqttClient, ms = 5000): Promise<void> {
  if (c.disconnected || !c.connected) return
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('connection not closed')), ms)
    c.once('close', () => {
      clearTimeout(t)
      resolve()
    })
  })
}

import { sleep } from './wait.js'
export { sleep }

/** Poll `check` until it returns true (bounded). */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  ms = 5000,
  what = 'condition'
): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(50)
  }
  throw new Error(`${what} not reached in ${ms} ms`)
}

/** The SUBACK return codes for filters, in order (128 = refused); mqtt.js rejects when any is refused. */
export async function subackCodes(c: mqtt.MqttClient, filters: string[], qos: 0 | 1 | 2 = 1): Promise<number[]> {
  try {
    return (await c.subscribeAsync(filters, { qos })).map(g => g.qos)
  } catch (err) {
    const granted = (err as { packet?: { granted?: Array<number | { qos: number }> } }).packet?.granted
    if (granted === undefined) throw err
    return granted.map(g => (typeof g === 'number' ? g : g.qos))
  }
}

/**
 * Connect as device `id` (no reconnects) with the message handler on before the CONNACK, so the first
 * messages of a resumed session's queue are not missed. `got` fills as messages arrive.
 */
export async function connectCollecting(
  url: string,
  id: string,
  opts: Opts = {}
): Promise<{ client: mqtt.MqttClient; got: Array<{ topic: string; payload: string }> }> {
  const got: Array<{ topic: string; payload: string }> = []
  const client = mqtt.connect(url, { clientId: id, username: id, password: secretOf(id), reconnectPeriod: 0, ...opts })
  client.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }))
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
  })
  return { client, got }
}

/** A gateway (no anonymous clients) with devices `ids` and an app `ops` (secret `ops-secret`) that may write their commands. */
export async function gatewayWithOps(ids: string[], extra: Record<string, unknown> = {}): Promise<GatewayProcess> {
  const config = writeConfig({
    devices: await devicesConfig(ids),
    apps: { ops: { passwordHash: await hashCheap('ops-secret'), read: [], write: ['devices/+/cmd/#'] } },
    ...extra
  })
  return await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
}
