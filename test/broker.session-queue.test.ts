import { test } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { connectAs, devicesConfig, hashCheap, secretOf, sleep, writeConfig } from './harness/devices.js'

// An attack found it: a persistent session's queue grew without bound while the device was away (or
// while it flooded its own commands), and nothing was counted. Now it holds at most 1000 messages.
const LIMIT = 1000

test('a persistent session away holds at most 1000 queued messages; the rest are counted, and it gets the 1000 on resume', async () => {
  const config = writeConfig({
    devices: await devicesConfig(['away-1']),
    apps: { ops: { passwordHash: await hashCheap('ops-secret'), read: [], write: ['devices/+/cmd/#'] } }
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    const dev = await connectAs(gw.url, 'away-1', { clean: false })
    await dev.subscribeAsync('devices/away-1/cmd/#', { qos: 1 })
    await dev.endAsync()

    const ops = await connectAs(gw.url, 'ops', { clientId: 'ops-1', password: 'ops-secret' })
    const extra = 25
    for (let i = 0; i < LIMIT + extra; i++) await ops.publishAsync('devices/away-1/cmd/set', `{"n":${i}}`, { qos: 1 })
    await ops.endAsync()
    assert.equal((await gw.status()).counters.refused.forward_queue_full, extra, 'each message past the limit counted')
    assert.match(gw.log(), /"code":"HF_ERR_FORWARD_QUEUE_FULL"/)

    const got: number[] = []
    const back = mqtt.connect(gw.url, {
      clientId: 'away-1',
      username: 'away-1',
      password: secretOf('away-1'),
      clean: false,
      reconnectPeriod: 0
    })
    back.on('message', (_t, p) => got.push(JSON.parse(p.toString()).n))
    const deadline = Date.now() + 15_000
    while (got.length < LIMIT && Date.now() < deadline) await sleep(50)
    await sleep(300)
    await back.endAsync()
    assert.equal(got.length, LIMIT, 'the queued ones arrive')
    assert.deepEqual(got.slice(0, 3), [0, 1, 2], 'oldest first: the newest were the ones not queued')
  } finally {
    await gw.stop()
  }
})
