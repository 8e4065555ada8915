import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import mqtt from 'mqtt'
import { parser, type IConnackPacket, type Packet } from 'mqtt-packet'
import { GatewayProcess } from './harness/gateway.js'
import { closesWithin, connect5Packet, connectPacket, openRaw } from './harness/mqtt-raw.js'

// The listener's connection limits (README "MQTT 5"): an MQTT 5 client refused by them gets CONNACK 0x89
// (too many connections) or 0x9F (too many new ones from its address) with a Reason String; a 3.1.1
// client is closed without a CONNACK, as before. Each refusal counted as before.

async function connackOf(port: number, packetBytes: Buffer): Promise<IConnackPacket | 'closed'> {
  const raw = await openRaw(port)
  raw.socket.write(packetBytes)
  const p = parser({ protocolVersion: 5 })
  const got = new Promise<IConnackPacket>(resolve => p.on('packet', (pk: Packet) => resolve(pk as IConnackPacket)))
  raw.socket.on('data', d => p.parse(d))
  const r = await Promise.race([got, raw.closed.then(() => 'closed' as const)])
  raw.socket.destroy()
  return r
}

async function v5Refusal(url: string): Promise<number> {
  try {
    const c = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 3000 })
    c.end(true)
    return 0
  } catch (err) {
    return (err as { code?: number }).code ?? -1
  }
}

async function mosquittoPub(port: number): Promise<string> {
  const child = spawn('mosquitto_pub', ['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(port), '-t', 'x', '-m', '1'])
  let out = ''
  child.stdout.on('data', d => (out += d))
  child.stderr.on('data', d => (out += d))
  await new Promise(resolve => child.once('exit', resolve))
  return out
}

test('over mqtt.maxConnections: MQTT 5 gets CONNACK 0x89 with a Reason String, 3.1.1 a closed socket; all counted', async () => {
  const gw = await GatewayProcess.start({ args: ['--mqtt-max-connections', '2'] })
  try {
    const held = await Promise.all(
      [1, 2].map(
        async i => await mqtt.connectAsync(gw.url, { protocolVersion: 5, clientId: `held-${i}`, reconnectPeriod: 0 })
      )
    )
    assert.equal(await v5Refusal(gw.url), 0x89)
    const connack = await connackOf(gw.mqttPort, connect5Packet('raw-5', 'u', 'p'))
    assert.notEqual(connack, 'closed')
    assert.equal((connack as IConnackPacket).reasonCode, 0x89)
    assert.match(String((connack as IConnackPacket).properties?.reasonString), /^HF_ERR_CONN_LIMIT: /)
    assert.match(await mosquittoPub(gw.mqttPort), /Server busy/i)
    // 3.1.1: no CONNACK, the socket closes as before.
    assert.equal(await connackOf(gw.mqttPort, connectPacket('raw-4')), 'closed')
    // Silence: closed soon without a word.
    assert.equal(await closesWithin(await openRaw(gw.mqttPort), 2000), true)
    assert.equal((await gw.status()).counters.refused.conn_limit, 5)
    await Promise.all(held.map(async c => await c.endAsync()))
  } finally {
    await gw.stop()
  }
})

test('over the per-address rate: MQTT 5 gets CONNACK 0x9F, 3.1.1 a closed socket; counted', async () => {
  const gw = await GatewayProcess.start({
    args: ['--mqtt-conn-rate-per-address', '0.1', '--mqtt-conn-burst-per-address', '2']
  })
  try {
    for (const i of [1, 2]) {
      const c = await mqtt.connectAsync(gw.url, { protocolVersion: 5, clientId: `ok-${i}`, reconnectPeriod: 0 })
      await c.endAsync()
    }
    assert.equal(await v5Refusal(gw.url), 0x9f)
    const connack = await connackOf(gw.mqttPort, connect5Packet('raw-5', 'u', 'p'))
    assert.equal((connack as IConnackPacket).reasonCode, 0x9f)
    assert.match(String((connack as IConnackPacket).properties?.reasonString), /^HF_ERR_CONN_RATE: /)
    assert.equal(await connackOf(gw.mqttPort, connectPacket('raw-4')), 'closed')
    assert.equal((await gw.status()).counters.refused.conn_rate, 3)
  } finally {
    await gw.stop()
  }
})
