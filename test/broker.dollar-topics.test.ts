import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { GatewayProcess, runCli } from './harness/gateway.js'
import { closed, eventually, hashCheap, sleep, writeConfig } from './harness/devices.js'

// `$` topics as MQTT 3.1.1 §4.7.2 has them: in --allow-anonymous mode a publish to `$…` (not `$SYS`)
// is accepted and reaches only subscriptions that name it; no app may be configured to write `$SYS`.
let gw: GatewayProcess
before(async () => {
  gw = await GatewayProcess.start()
})
after(async () => {
  await gw?.stop()
})

const anon = async (clientId: string, o: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> =>
  await mqtt.connectAsync(gw.url, { clientId, reconnectPeriod: 0, connectTimeout: 5000, ...o })

function inbox(c: mqtt.MqttClient): string[] {
  const got: string[] = []
  c.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`))
  return got
}

test('an anonymous publish to a $ topic is acknowledged and routed only to subscriptions that name it', {
  timeout: 90_000
}, async () => {
  const wildcard = await anon('watch-all')
  await wildcard.subscribeAsync('#', { qos: 1 })
  const named = await anon('watch-app')
  await named.subscribeAsync('$app/+/state', { qos: 1 })
  const offline = await anon('watch-later', { clean: false })
  await offline.subscribeAsync('#', { qos: 1 })
  await offline.endAsync()
  const gotAll = inbox(wildcard)
  const gotNamed = inbox(named)

  const pub = await anon('publisher')
  await pub.publishAsync('$app/line-1/state', 'on', { qos: 1 })
  await pub.publishAsync('$app/line-1/cfg', 'v2', { qos: 1, retain: true })
  await pub.publishAsync('plant/line-1/state', 'plain', { qos: 1 })
  assert.ok(pub.connected, 'the publisher kept its connection')
  await sleep(500)
  assert.deepEqual(gotNamed, ['$app/line-1/state=on'])
  assert.deepEqual(gotAll, ['plant/line-1/state=plain'])

  // Queued for an offline persistent session: only what its wildcard filters may match.
  // The listener is set before CONNECT: queued messages follow the CONNACK at once.
  const back = mqtt.connect(gw.url, { clientId: 'watch-later', clean: false, reconnectPeriod: 0 })
  const gotBack = inbox(back)
  await eventually(() => gotBack.length > 0, 5000, 'queued message delivered')
  await sleep(500)
  assert.deepEqual(gotBack, ['plant/line-1/state=plain'])

  // Retained: a new `#` subscriber does not get the `$` message, one that names it does.
  const lateAll = await anon('late-all')
  const gotLateAll = inbox(lateAll)
  await lateAll.subscribeAsync('#', { qos: 1 })
  const lateNamed = await anon('late-app')
  const gotLateNamed = inbox(lateNamed)
  await lateNamed.subscribeAsync('$app/#', { qos: 1 })
  await sleep(500)
  assert.deepEqual(gotLateAll, [])
  assert.deepEqual(gotLateNamed, ['$app/line-1/cfg=v2'])

  // $SYS stays the broker's own.
  const gone = closed(pub)
  pub.publish('$SYS/broker/uptime', 'forged', { qos: 1 })
  await gone
  await eventually(() => /"code":"HF_ERR_ACL_PUBLISH"/.test(gw.log()), 5000, 'logged')
  await Promise.all([wildcard, named, back, lateAll, lateNamed].map(async c => await c.endAsync()))
})

test('an app configured to write into $SYS is a config error; # is fine', { timeout: 90_000 }, async () => {
  const bad = writeConfig({
    apps: { dash: { passwordHash: await hashCheap('dash-secret'), read: ['#'], write: ['plant/#', '$SYS/#'] } }
  })
  const r = await runCli(['run', '--config', bad, '--data-dir', '/nonexistent/never'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /apps\.dash\.write: must be a list of MQTT topic filters outside \$SYS/)
  assert.match(r.stderr, /HF_ERR_CONFIG_INVALID/)

  const good = writeConfig({ apps: { dash: { passwordHash: await hashCheap('dash-secret'), write: ['#'] } } })
  const g = await GatewayProcess.start({ anonymous: false, args: ['--config', good] })
  await g.stop()
})
