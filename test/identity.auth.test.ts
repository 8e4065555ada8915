import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { GatewayProcess, runCli } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import {
  closed,
  connectAs,
  devicesConfig,
  eventually,
  hashCheap,
  refusal,
  secretOf,
  subackCodes,
  writeConfig,
  sleep
} from './harness/devices.js'

// Devices log in as themselves and stay within devices/<own id>/…; apps get what their config grants.
let gw: GatewayProcess
before(async () => {
  const config = writeConfig({
    devices: await devicesConfig(['pump-1', 'pump-2']),
    apps: {
      dash: { passwordHash: await hashCheap('dash-secret'), read: ['devices/+/telemetry'], write: ['devices/+/cmd/#'] }
    },
    mqtt: { authFailureBurst: 1000 }
  })
  gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
})
after(async () => {
  await gw.stop()
})

const device = (s: any, id: string): any => s.devices.find((d: any) => d.id === id)

test('a provisioned device logs in with its secret; wrong, missing and unknown credentials are refused and counted', async () => {
  const ok = await connectAs(gw.url, 'pump-1')
  await ok.publishAsync('devices/pump-1/telemetry', '{"ts":1700000000000,"t":1}', { qos: 1 })
  await ok.endAsync()

  assert.match(
    await refusal(gw.url, { clientId: 'pump-1', username: 'pump-1', password: 'wrong-secret' }),
    /Bad username or password/
  )
  assert.match(await refusal(gw.url, { clientId: 'pump-1', username: 'pump-1' }), /Bad username or password/)
  assert.match(await refusal(gw.url, { clientId: 'pump-1' }), /Not authorized/)
  assert.match(
    await refusal(gw.url, { clientId: 'ghost-7', username: 'ghost-7', password: secretOf('ghost-7') }),
    /Bad username or password/
  )
  // The secret of another device is no key to this one.
  assert.match(
    await refusal(gw.url, { clientId: 'pump-1', username: 'pump-1', password: secretOf('pump-2') }),
    /Bad username or password/
  )

  const s = await gw.status()
  assert.equal(s.counters.refused.bad_credentials, 3)
  assert.equal(s.counters.refused.anonymous, 1)
  assert.equal(s.counters.refused.unknown_identity, 1)
  assert.equal(s.counters.authFailures, 5)
  assert.equal(device(s, 'pump-1').authFailures, 3)
  assert.equal(device(s, 'ghost-7'), undefined, 'unknown ids create no device entries')
  await gw.waitForLog(/"code":"HF_ERR_AUTH_BAD_CREDENTIALS"/)
})

test('a device cannot publish as another device or into $SYS: refused, connection closed, counted against it', async () => {
  const before = await gw.status()
  const spoof = await connectAs(gw.url, 'pump-1')
  const gone = closed(spoof)
  spoof.publish('devices/pump-2/telemetry', '{"ts":1700000000001,"fake":true}', { qos: 1 })
  await gone

  const sys = await connectAs(gw.url, 'pump-1')
  const gone2 = closed(sys)
  sys.publish('$SYS/broker/uptime', 'forged', { qos: 0 })
  await gone2

  const outside = await connectAs(gw.url, 'pump-1')
  const gone3 = closed(outside)
  outside.publish('site/config/mode', 'eco', { qos: 1 })
  await gone3

  const s = await gw.status()
  assert.equal(s.counters.dropped.acl_denied - before.counters.dropped.acl_denied, 3)
  assert.equal(device(s, 'pump-1').denials - (device(before, 'pump-1')?.denials ?? 0), 3)
  assert.equal(device(s, 'pump-1').dropped.acl_denied, 3)
  assert.equal(device(s, 'pump-2'), undefined, 'nothing was recorded under the spoofed id')
  await gw.waitForLog(/"code":"HF_ERR_ACL_PUBLISH"/)
  spoof.end(true)
  sys.end(true)
  outside.end(true)
})

test("a device subscribes only to its own command topics; other devices' topics, wildcards and $SYS get SUBACK 0x80", async () => {
  const c = await connectAs(gw.url, 'pump-2')
  const codes = await subackCodes(c, [
    'devices/pump-2/cmd/#',
    'devices/pump-1/telemetry',
    'devices/+/telemetry',
    '#',
    '$SYS/#',
    'devices/pump-2/telemetry'
  ])
  assert.deepEqual(codes, [1, 128, 128, 128, 128, 128])
  // The refused filters deliver nothing, the granted one does.
  const seen: string[] = []
  c.on('message', t => seen.push(t))
  const p1 = await connectAs(gw.url, 'pump-1')
  await p1.publishAsync('devices/pump-1/telemetry', '{"ts":1700000000002}', { qos: 1 })
  await p1.endAsync()
  const app = await connectAs(gw.url, 'dash', { password: 'dash-secret' })
  await app.publishAsync('devices/pump-2/cmd/valve', 'open', { qos: 1 })
  await eventually(() => seen.includes('devices/pump-2/cmd/valve'), 3000, 'command delivered')
  await sleep(100)
  assert.deepEqual(seen, ['devices/pump-2/cmd/valve'])
  const s = await gw.status()
  assert.equal(device(s, 'pump-2').denials, 5)
  assert.equal(s.counters.refused.acl_subscribe, 5)
  await Promise.all([c.endAsync(), app.endAsync()])
})

test('an app account reads and writes exactly what its config grants', async () => {
  const app = await connectAs(gw.url, 'dash', { password: 'dash-secret' })
  assert.deepEqual(
    await subackCodes(app, ['devices/+/telemetry', 'devices/pump-1/telemetry', 'devices/+/alarm', 'devices/#']),
    [1, 1, 128, 128]
  )
  const got = new Promise<string>(resolve => app.once('message', (t, p) => resolve(`${t} ${p.toString()}`)))
  const dev = await connectAs(gw.url, 'pump-1')
  await dev.publishAsync('devices/pump-1/telemetry', '{"ts":1700000000003,"v":3}', { qos: 1 })
  assert.equal(await got, 'devices/pump-1/telemetry {"ts":1700000000003,"v":3}')
  await dev.endAsync()
  // Writing outside its write filters closes the app's connection.
  const gone = closed(app)
  app.publish('devices/pump-1/telemetry', '{"ts":1700000000004,"forged":true}', { qos: 1 })
  await gone
  app.end(true)
  const rows = readBuffer(gw.dataDir).filter(
    r => r.payload.toString().includes('forged') || r.payload.toString().includes('fake')
  )
  assert.deepEqual(rows, [], 'no forged reading was stored')
})

test('sessions per device are capped; a reconnect with the same client id takes the old session over', async () => {
  const a = await connectAs(gw.url, 'pump-1', { clientId: 'pump-1-a' })
  const b = await connectAs(gw.url, 'pump-1', { clientId: 'pump-1-b' })
  assert.match(
    await refusal(gw.url, { clientId: 'pump-1-c', username: 'pump-1', password: secretOf('pump-1') }),
    /Server unavailable/
  )
  const aGone = closed(a)
  const a2 = await connectAs(gw.url, 'pump-1', { clientId: 'pump-1-a' })
  await aGone
  const s = await gw.status()
  assert.equal(s.counters.refused.session_limit, 1)
  assert.equal(device(s, 'pump-1').quota.usage.sessions, 2)
  await gw.waitForLog(/"code":"HF_ERR_SESSION_LIMIT"/)
  await Promise.all([b.endAsync(), a2.endAsync()])
  a.end(true)
})

test("a device cannot take over another's session by using its client id", async () => {
  const owner = await connectAs(gw.url, 'pump-2', { clientId: 'pump-2' })
  let kicked = false
  owner.on('close', () => {
    kicked = true
  })
  assert.match(
    await refusal(gw.url, { clientId: 'pump-2', username: 'pump-1', password: secretOf('pump-1') }),
    /Identifier rejected/
  )
  assert.match(
    await refusal(gw.url, { clientId: 'pump-2', username: 'dash', password: 'dash-secret' }),
    /Identifier rejected/
  )
  await owner.publishAsync('devices/pump-2/telemetry', '{"ts":1700000000010}', { qos: 1 })
  assert.equal(kicked, false, 'the owner kept its session')
  assert.equal((await gw.status()).counters.refused.client_id_taken, 2)
  await owner.endAsync()
  // A device's own id stays reserved for it when it is away (taken first, it would lock the device out).
  await sleep(200)
  assert.match(
    await refusal(gw.url, { clientId: 'pump-2', username: 'pump-1', password: secretOf('pump-1') }),
    /Identifier rejected/
  )
  // Any other id is free again once the clean session holding it has ended.
  const other = await connectAs(gw.url, 'pump-2', { clientId: 'console-7' })
  await other.endAsync()
  await eventually(
    async () => {
      try {
        await (await connectAs(gw.url, 'pump-1', { clientId: 'console-7' })).endAsync()
        return true
      } catch {
        return false
      }
    },
    3000,
    'client id free after a clean session ended'
  )
})

test('wrong passwords are rate-limited per source address, then even the right one waits', async () => {
  const config = writeConfig({
    devices: await devicesConfig(['valve-1']),
    mqtt: { authFailureBurst: 3, authFailuresPerMin: 1 }
  })
  const g = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    for (let i = 0; i < 3; i++)
      assert.match(
        await refusal(g.url, { clientId: 'valve-1', username: 'valve-1', password: `guess-${i}` }),
        /Bad username or password/
      )
    assert.match(
      await refusal(g.url, { clientId: 'valve-1', username: 'valve-1', password: secretOf('valve-1') }),
      /Not authorized/
    )
    assert.match(
      await refusal(g.url, { clientId: 'valve-1', username: 'valve-1', password: 'guess-4' }),
      /Not authorized/
    )
    const s = await g.status()
    assert.equal(s.counters.refused.bad_credentials, 3)
    assert.equal(s.counters.refused.auth_rate_limited, 2)
    await g.waitForLog(/"code":"HF_ERR_AUTH_RATE_LIMITED"/)
  } finally {
    await g.stop()
  }
})

test('holdfast devices add/rotate/remove: the running gateway picks the change up and closes sessions of a replaced secret', async () => {
  const g = await GatewayProcess.start({ anonymous: false })
  try {
    const add = await runCli(['devices', 'add', 'meter-1', '--password-stdin', '--data-dir', g.dataDir], {
      input: 'first-secret-1\n'
    })
    assert.equal(add.code, 0, add.stderr)
    assert.equal(add.stdout, '', 'a secret from stdin is not echoed')
    await eventually(
      async () => {
        try {
          ;(await connectAs(g.url, 'meter-1', { password: 'first-secret-1' })).end(true)
          return true
        } catch {
          return false
        }
      },
      5000,
      'device usable after add'
    )
    const session = await connectAs(g.url, 'meter-1', { password: 'first-secret-1' })
    const gone = closed(session, 6000)

    const rotate = await runCli(['devices', 'rotate', 'meter-1', '--data-dir', g.dataDir])
    assert.equal(rotate.code, 0, rotate.stderr)
    const newSecret = rotate.stdout.trim()
    assert.ok(newSecret.length >= 24, 'a generated secret is printed once')
    await gone
    // pino writes asynchronously: the line may land a moment after the session closed.
    await eventually(
      () => /"code":"HF_ERR_AUTH_SECRET_ROTATED"/.test(g.log()),
      10_000,
      'the closed session is logged as a rotation'
    )
    assert.match(
      await refusal(g.url, { clientId: 'meter-1', username: 'meter-1', password: 'first-secret-1' }),
      /Bad username or password/
    )
    const c = await connectAs(g.url, 'meter-1', { password: newSecret })
    await c.publishAsync('devices/meter-1/energy', '{"ts":1700000000005,"kwh":1}', { qos: 1 })
    await c.endAsync()

    const list = await runCli(['devices', 'list', '--json', '--data-dir', g.dataDir])
    assert.deepEqual(
      JSON.parse(list.stdout).map((d: any) => d.id),
      ['meter-1']
    )
    assert.doesNotMatch(list.stdout + add.stdout, /first-secret-1/)
    assert.equal(
      (await runCli(['devices', 'add', 'meter-1', '--data-dir', g.dataDir])).code,
      2,
      'add refuses an existing id'
    )

    assert.equal((await runCli(['devices', 'remove', 'meter-1', '--data-dir', g.dataDir])).code, 0)
    await eventually(
      async () =>
        /Bad username or password/.test(
          await refusal(g.url, { clientId: 'meter-1', username: 'meter-1', password: newSecret }).catch(() => '')
        ),
      5000,
      'device refused after remove'
    )
  } finally {
    await g.stop()
  }
})

test('devices and apps in the config are validated field by field', async () => {
  const config = writeConfig({
    devices: {
      'pump-1': { quota: { msgsPerS: 0, maxSesions: 2 }, storagePolicy: 'keep-all', passwordHash: 'plain-text' },
      'bad id': {}
    },
    apps: { dash: { read: ['devices/#/x'] } }
  })
  const r = await runCli(['run', '--config', config, '--data-dir', '/nonexistent/never'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /devices\.pump-1\.quota\.msgsPerS: must be a number from 0\.01 to 1000000 \(got 0\)/)
  assert.match(r.stderr, /devices\.pump-1\.quota\.maxSesions: unknown key/)
  assert.match(r.stderr, /devices\.pump-1\.storagePolicy: must be one of drop-oldest, reject-new/)
  assert.match(r.stderr, /devices\.pump-1\.passwordHash: must be a hash printed by `holdfast hash-password`/)
  assert.match(r.stderr, /devices\.bad id: the name must be a device id/)
  assert.match(r.stderr, /apps\.dash\.read: must be a list of MQTT topic filters/)
  assert.match(r.stderr, /apps\.dash\.passwordHash: is required/)
})

test('--allow-anonymous still lets anonymous clients anywhere, while credentials given are checked', async () => {
  const config = writeConfig({ devices: await devicesConfig(['pump-9']) })
  const g = await GatewayProcess.start({ args: ['--config', config] })
  try {
    const anon = await mqtt.connectAsync(g.url, { clientId: 'anon-dev', reconnectPeriod: 0 })
    const granted = await anon.subscribeAsync('devices/#', { qos: 1 })
    assert.equal(granted[0]!.qos, 1)
    await anon.publishAsync('devices/other-1/telemetry', '{"ts":1700000000006}', { qos: 1 })
    await anon.endAsync()
    assert.match(
      await refusal(g.url, { clientId: 'pump-9', username: 'pump-9', password: 'nope-nope' }),
      /Bad username or password/
    )
    assert.equal((await g.status()).counters.stored, 1)
  } finally {
    await g.stop()
  }
})
