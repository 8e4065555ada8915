import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connectAs, connectCollecting, gatewayWithOps, sleep } from './harness/devices.js'

// A publish no subscription matches skips aedes' delivery steps, and the broker remembers the topic
// as unmatched (patches/aedes+2.0.0-beta.1.patch, noSubscriber). Subscriptions made later, live or
// kept for a session that is away, must still get every message published after them.
test('a topic published to before anyone subscribed still reaches later subscribers, live and queued for a session away', async () => {
  const gw = await gatewayWithOps(['dev-1'])
  try {
    const ops = await connectAs(gw.url, 'ops', { clientId: 'ops-1', password: 'ops-secret' })
    const send = async (payload: string): Promise<void> => {
      await ops.publishAsync('devices/dev-1/cmd/set', payload, { qos: 1 })
    }
    await send('before anyone')
    await send('before anyone, again')

    const live = await connectCollecting(gw.url, 'dev-1')
    await live.client.subscribeAsync('devices/dev-1/cmd/#', { qos: 1 })
    await send('while subscribed')
    await sleep(300)
    await live.client.unsubscribeAsync('devices/dev-1/cmd/#')
    await send('after unsubscribing')
    await sleep(300)
    await live.client.endAsync()
    assert.deepEqual(
      live.got.map(m => m.payload),
      ['while subscribed'],
      'delivered while subscribed, not before nor after'
    )

    const session = { clean: false, clientId: 'dev-1-kept' }
    const first = await connectCollecting(gw.url, 'dev-1', session)
    await first.client.subscribeAsync('devices/dev-1/cmd/#', { qos: 1 })
    await first.client.endAsync()
    await send('while away')
    const back = await connectCollecting(gw.url, 'dev-1', session)
    await sleep(1000)
    await back.client.endAsync()
    assert.deepEqual(
      back.got.map(m => m.payload),
      ['while away'],
      'queued for the session while it was away'
    )
    await ops.endAsync()
  } finally {
    await gw.stop()
  }
})
