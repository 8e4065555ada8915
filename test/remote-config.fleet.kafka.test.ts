/**
 * Fleet operations against a real Kafka broker with three gateway processes, driven through the
 * operator's CLI (`holdfast fleet sign|push|status|history`): layers (fleet < groups < own),
 * partial documents, deletion fallback, groups, one outcome per document, desired vs reported,
 * pending and offline, rollout summaries, early errors. The tests run in order on the same fleet.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { useKafka, type KafkaBroker } from './harness/kafka.js'
import { GatewayProcess, runCli } from './harness/gateway.js'
import { createTopic, remoteConfigFile, type Report, sleep, StatusTopic, topicName, waitFor } from './harness/remote.js'
import { hashSecret } from '../src/identity/secret.js'

const MiB = 1024 * 1024
const HEARTBEAT_MS = 1500

let kafka: KafkaBroker
let dir: string
let keyFile: string
let topic: string
let configTopic: string
let status: StatusTopic
const gws = new Map<string, GatewayProcess>()
let brokers: string[]

before(async () => {
  kafka = await useKafka()
  brokers = ['--brokers', kafka.brokers.join(',')]
  dir = mkdtempSync(join(tmpdir(), 'hf-rc-fleet-'))
  keyFile = join(dir, 'ops.key')
  const kg = await runCli(['fleet', 'keygen', '--key', keyFile])
  assert.equal(kg.code, 0, kg.stderr)
  topic = topicName('telemetry')
  configTopic = topicName('config') // not created: the first push creates it, after the gateways started
  await createTopic(kafka, topic)
  status = await StatusTopic.open(kafka, topicName('status'))
  const groups: Record<string, string[]> = {
    'gw-1': ['site=plant-7'],
    'gw-2': ['site=plant-7', 'hw=pi4'],
    'gw-3': ['site=plant-9']
  }
  for (const [id, g] of Object.entries(groups)) {
    const file = remoteConfigFile(dir, {
      kafka,
      topic,
      configTopic,
      statusTopic: status.topic,
      key: { publicKey: kg.stdout.trim(), privateKey: null as never }
    })
    const cfg = JSON.parse(readFileSync(file, 'utf8'))
    cfg.remote.groups = g
    writeFileSync(file, JSON.stringify(cfg))
    gws.set(id, await GatewayProcess.start({ args: ['--config', file, '--gateway-id', id] }))
  }
})

after(async () => {
  for (const gw of gws.values()) await gw.stop()
  await status?.close()
  await kafka?.dispose()
})

const gw = (id: string): GatewayProcess => gws.get(id)!

async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return await runCli(args, { timeoutMs: 60_000 })
}

/** Sign a tree with the CLI; returns the signed file. */
async function sign(target: string[], version: number, config: unknown, extra: string[] = []): Promise<string> {
  const src = join(dir, `tree-${target.join('-').replace(/[^a-z0-9-]/gi, '_')}-${version}.json`)
  writeFileSync(src, JSON.stringify(config))
  const r = await cli(['fleet', 'sign', '--key', keyFile, ...target, '--version', String(version), ...extra, src])
  assert.equal(r.code, 0, r.stderr)
  const out = `${src}.signed`
  writeFileSync(out, r.stdout)
  return out
}

async function pushFile(file: string): Promise<void> {
  const r = await cli(['fleet', 'push', ...brokers, '--topic', configTopic, file])
  assert.equal(r.code, 0, r.stderr)
}

const outcome = async (id: string, type: string, key: string, version: number | null, timeoutMs = 60_000) =>
  await status.event(
    `${id}: ${type} ${key} v${version}`,
    r => r.gatewayId === id && r.type === type && r.key === key && r.version === version,
    timeoutMs
  )

async function fleetStatus(extra: string[] = []): Promise<any[]> {
  const r = await cli([
    'fleet',
    'status',
    ...brokers,
    '--topic',
    statusTopicName(),
    '--config-topic',
    configTopic,
    '--json',
    ...extra
  ])
  assert.equal(r.code, 0, r.stderr)
  return r.stdout
    .trim()
    .split('\n')
    .filter(l => l !== '')
    .map(l => JSON.parse(l))
}
const statusTopicName = (): string => status.topic

async function apiStatus(id: string): Promise<any> {
  return await gw(id).status()
}

test('gateways started before the config topic exists pick up the first fleet default within seconds; a rollout summary counts them', async () => {
  for (const id of gws.keys()) await status.heartbeat(r => r.gatewayId === id && r.config.state === 'local', 90_000)
  const fleet1 = await sign(['--gateway', '*'], 1, {
    batch: { lingerMs: 40 },
    store: { maxBytes: 64 * MiB },
    quota: { msgsPerS: 300 }
  })
  const pushedAt = Date.now()
  await pushFile(fleet1)
  for (const id of gws.keys()) {
    const c = await outcome(id, 'confirmed', '*', 1)
    process.stdout.write(`# ${id}: fleet v1 confirmed ${Date.parse(c.at) - pushedAt} ms after the topic was created\n`)
  }
  for (const id of gws.keys()) assert.equal((await apiStatus(id)).store.maxBytes, 64 * MiB)

  const [summary] = await fleetStatus(['--rollout', '1'])
  assert.equal(summary.key, '*')
  assert.equal(summary.total, 3)
  assert.equal(summary.counts.confirmed, 3)
  assert.equal(summary.done, true)
  const text = await cli([
    'fleet',
    'status',
    ...brokers,
    '--topic',
    status.topic,
    '--config-topic',
    configTopic,
    '--rollout',
    fleet1
  ])
  assert.equal(text.code, 0, text.stderr)
  assert.match(text.stdout, /rollout of fleet default \(\*\) v1: 3 of 3 confirmed/)

  // --watch keeps refreshing (it once printed a single round and exited): three rounds of three gateways.
  const watched = await fleetStatus(['--watch', '--interval-s', '0.2', '--max-rounds', '3'])
  assert.deepEqual(
    watched.map(r => r.gatewayId),
    ['gw-1', 'gw-2', 'gw-3', 'gw-1', 'gw-2', 'gw-3', 'gw-1', 'gw-2', 'gw-3']
  )

  // Each read used a fresh consumer group and deleted it: none is left behind on the cluster. (Other
  // files may run fleet commands on a shared broker meanwhile: theirs are deleted too, so poll.)
  const admin = kafka.client().admin()
  await admin.connect()
  try {
    await waitFor(
      'no holdfast-fleet-* consumer group left',
      async () => {
        const { groups } = await admin.listGroups()
        return !groups.some(g => g.groupId.startsWith('holdfast-fleet-'))
      },
      20_000
    )
  } finally {
    await admin.disconnect()
  }
})

test("an override that sets only devices keeps the fleet's other settings; deleting it falls back and is reported", async () => {
  const hash = await hashSecret('device-secret-1')
  await pushFile(await sign(['--gateway', 'gw-1'], 1, { devices: { 'dev-1': { passwordHash: hash } } }))
  const applied = await outcome('gw-1', 'applied', 'gw-1', 1)
  assert.deepEqual(applied.layers, [
    { key: '*', version: 1 },
    { key: 'gw-1', version: 1 }
  ])
  assert.deepEqual(applied.changed, ['devices'], 'only devices changed: the fleet settings stay')
  await outcome('gw-1', 'confirmed', 'gw-1', 1)
  const st = await apiStatus('gw-1')
  assert.equal(st.store.maxBytes, 64 * MiB, "the fleet's store.maxBytes is kept")
  assert.match(st.config.source, /key gw-1.*layers \* v1 < gw-1 v1/)

  const del = await cli(['fleet', 'push', ...brokers, '--topic', configTopic, '--delete', '--gateway', 'gw-1'])
  assert.equal(del.code, 0, del.stderr)
  const removed = await outcome('gw-1', 'applied', 'gw-1', null)
  assert.equal(removed.deleted, true)
  assert.equal(removed.deletedVersion, 1)
  assert.deepEqual(removed.layers, [{ key: '*', version: 1 }])
  await outcome('gw-1', 'confirmed', 'gw-1', null)
  const after = await apiStatus('gw-1')
  assert.equal(after.config.version, 1)
  assert.match(after.config.source, /key \*/)
  assert.equal(after.store.maxBytes, 64 * MiB)

  // Per-layer versions: the deleted layer's version 1 cannot come back.
  await pushFile(await sign(['--gateway', 'gw-1'], 1, { devices: {} }))
  const replay = await outcome('gw-1', 'rejected', 'gw-1', 1)
  assert.equal(replay.reason, 'not_newer')
})

test('a refused override does not block a later fleet default', async () => {
  // Signed with the operator key but invalid (sign would refuse it: pushed around the CLI's check).
  const bad = await sign(['--gateway', 'gw-2'], 7, { quota: { msgsPerS: 0 } }, ['--no-check'])
  await pushFile(bad)
  const rejected = await outcome('gw-2', 'rejected', 'gw-2', 7)
  assert.equal(rejected.reason, 'invalid')
  await pushFile(await sign(['--gateway', '*'], 2, { store: { maxBytes: 32 * MiB } }))
  for (const id of gws.keys()) await outcome(id, 'confirmed', '*', 2)
  assert.equal((await apiStatus('gw-2')).store.maxBytes, 32 * MiB)
})

test('aggregation rules, priority classes, the uplink budget and retention are applied live; a restart-only setting is refused as such', async () => {
  await pushFile(
    await sign(['--gateway', 'gw-1'], 2, {
      aggregate: { rules: { temps: { topics: ['devices/+/telemetry/temp'], mode: 'rollup', windowMs: 5000 } } },
      priority: {
        classes: {
          alarm: { topics: ['devices/+/alarm/#'], priority: 3, exempt: true },
          bulk: { topics: ['#'], priority: 0, holdAt: 0.9 }
        }
      },
      budget: { bytesPerDay: 50 * MiB },
      store: { retainMs: 60_000, compactAt: 0.8 }
    })
  )
  const applied = await outcome('gw-1', 'applied', 'gw-1', 2)
  assert.deepEqual([...applied.changed].sort(), ['aggregate', 'budget', 'priority', 'store'])
  await outcome('gw-1', 'confirmed', 'gw-1', 2)
  const st = await apiStatus('gw-1')
  assert.equal(st.aggregation.rules, 1, 'the new rollup rule is in force')
  assert.equal(st.aggregation.kept.retainMs, 60_000, 'retention changed live')
  assert.equal(st.budget.enabled, true, 'the uplink budget is on')
  assert.equal(st.budget.day.budgetBytes, 50 * MiB)
  assert.deepEqual(
    st.budget.classes.map((c: { name: string; priority: number }) => `${c.name}:${c.priority}`),
    ['alarm:3', 'bulk:0'],
    'the forwarder took the new classes'
  )
  assert.equal(st.store.maxBytes, 32 * MiB, "the fleet's store.maxBytes still applies under gw-1's own layer")

  await pushFile(await sign(['--gateway', 'gw-1'], 3, { mqtt: { port: 1999 } }, ['--no-check']))
  const refused = await outcome('gw-1', 'rejected', 'gw-1', 3)
  assert.equal(refused.reason, 'invalid')
  assert.match(
    refused.errors.map((e: { field: string; message: string }) => `${e.field}: ${e.message}`).join('\n'),
    /mqtt\.port: .*takes effect only at start/
  )
})

test('a group document reaches only its group; a fleet field a group sets is reported as superseded', async () => {
  const group = await sign(['--group', 'site=plant-7'], 1, { store: { maxBytes: 48 * MiB } })
  await pushFile(group)
  await outcome('gw-1', 'confirmed', 'group:site=plant-7', 1)
  await outcome('gw-2', 'confirmed', 'group:site=plant-7', 1)
  assert.equal((await apiStatus('gw-1')).store.maxBytes, 48 * MiB)
  assert.equal((await apiStatus('gw-2')).store.maxBytes, 48 * MiB)
  await sleep(2000)
  assert.deepEqual(
    status.events('gw-3').filter(e => e.key === 'group:site=plant-7'),
    [],
    'gw-3 is not in site=plant-7'
  )
  assert.equal((await apiStatus('gw-3')).store.maxBytes, 32 * MiB)
  const [summary] = await fleetStatus(['--rollout', group])
  assert.equal(summary.total, 2)
  assert.equal(summary.counts.confirmed, 2)

  // The fleet sets only store.maxBytes: the group decides it on gw-1 and gw-2.
  await pushFile(await sign(['--gateway', '*'], 3, { store: { maxBytes: 40 * MiB } }))
  for (const id of ['gw-1', 'gw-2']) {
    const ignored = await outcome(id, 'ignored', '*', 3)
    assert.equal(ignored.reason, 'superseded')
    assert.deepEqual(ignored.supersededBy, ['group:site=plant-7'])
  }
  await outcome('gw-3', 'confirmed', '*', 3)
  const [r3] = await fleetStatus(['--rollout', '3', '--gateway', '*'])
  assert.deepEqual(
    { total: r3.total, confirmed: r3.counts.confirmed, ignored: r3.counts.ignored },
    { total: 3, confirmed: 1, ignored: 2 }
  )
  const rows = await fleetStatus()
  const gw2 = rows.find(r => r.gatewayId === 'gw-2')
  assert.deepEqual(gw2.groups, ['site=plant-7', 'hw=pi4'])
  // DESIRED is what each gateway converges to: its rejected own document is never tried again, so
  // gw-2 stays without an own layer (and gw-1 on its own v2) until a newer one is pushed.
  assert.deepEqual(gw2.desired, [
    { key: '*', version: 3 },
    { key: 'group:site=plant-7', version: 1 }
  ])
  assert.deepEqual(gw2.refused, [{ key: 'gw-2', version: 7, outcome: 'rejected', reason: 'invalid' }])
  assert.deepEqual(gw2.reported, [
    { key: '*', version: 3 },
    { key: 'group:site=plant-7', version: 1 }
  ])
  assert.equal(gw2.inSync, true, 'its refused own document is not what it converges to')
  assert.equal(rows.find(r => r.gatewayId === 'gw-3').inSync, true)
  const gw1 = rows.find(r => r.gatewayId === 'gw-1')
  assert.deepEqual(
    gw1.desired.find((l: { key: string }) => l.key === 'gw-1'),
    { key: 'gw-1', version: 2 },
    'its own v3 was refused: it keeps v2'
  )
  assert.deepEqual(gw1.refused, [{ key: 'gw-1', version: 3, outcome: 'rejected', reason: 'invalid' }])
  assert.equal(gw1.inSync, true)
  const table = await cli(['fleet', 'status', ...brokers, '--topic', statusTopicName(), '--config-topic', configTopic])
  assert.equal(table.code, 0, table.stderr)
  assert.match(table.stdout, /^gw-2 +\S+ +\*:3 site=plant-7:1 \(own:7 rejected\) +\*:3 site=plant-7:1 +yes /m)

  // Every field the group's next document sets is decided by gw-1's own document, but it drops the
  // maxBytes the group set before: that changes what is in force, so it is applied, not ignored (it
  // used to be reported ignored and take effect silently at the next restart).
  await pushFile(await sign(['--group', 'site=plant-7'], 2, { store: { retainMs: 30_000 } }))
  await outcome('gw-1', 'applied', 'group:site=plant-7', 2)
  await outcome('gw-1', 'confirmed', 'group:site=plant-7', 2)
  await outcome('gw-2', 'confirmed', 'group:site=plant-7', 2)
  assert.equal(
    (await apiStatus('gw-1')).store.maxBytes,
    40 * MiB,
    "the fleet's 40 MiB, now that the group does not set it"
  )
})

test('fleet status shows pending during a confirmation window, the outcome after it, and offline for a stopped gateway within 2.5 heartbeat intervals', async () => {
  // Unreachable brokers: applied, then rolled back when its 10 s window ends.
  await pushFile(
    await sign(['--gateway', 'gw-3'], 1, { kafka: { brokers: ['127.0.0.1:1'] } }, ['--confirm-window-s', '10'])
  )
  await outcome('gw-3', 'applied', 'gw-3', 1)
  const during = await fleetStatus()
  const row = during.find(r => r.gatewayId === 'gw-3')
  assert.equal(row.state, 'pending', JSON.stringify(row))
  assert.equal(row.pending.key, 'gw-3')
  // The heartbeat carries the verdicts as codes and texts while the uplink is cut...
  const sick = await status.heartbeat(
    r => r.gatewayId === 'gw-3' && r.health.problems.some((p: { code: string }) => p.code.startsWith('uplink_')),
    30_000
  )
  const problem = sick.health.problems.find((p: { code: string }) => p.code.startsWith('uplink_'))
  assert.match(problem.text, /^Uplink (down|unreliable) for /)
  const rolled = await outcome('gw-3', 'rolled-back', 'gw-3', 1, 40_000)
  assert.equal(rolled.reason, 'uplink_unconfirmed')
  // ...and no longer once it is resolved.
  await status.heartbeat(
    r =>
      r.gatewayId === 'gw-3' &&
      Date.parse(r.at) > Date.parse(rolled.at) &&
      r.uplink.state === 'connected' &&
      !r.health.problems.some((p: { code: string }) => p.code.startsWith('uplink_')),
    30_000
  )
  const afterRows = await waitFor('gw-3 confirmed again', async () => {
    const rows = await fleetStatus()
    const r = rows.find(x => x.gatewayId === 'gw-3')
    return r.state === 'confirmed' && r
  })
  assert.equal(afterRows.lastEvent.type, 'rolled-back')

  const hist = await cli(['fleet', 'history', ...brokers, '--topic', status.topic, '--gateway', 'gw-3', '--json'])
  assert.equal(hist.code, 0, hist.stderr)
  const events = hist.stdout
    .trim()
    .split('\n')
    .map(l => JSON.parse(l) as Report)
    .map(e => `${e.type} ${e.key} v${e.version}`)
  assert.deepEqual(events, [
    'applied * v1',
    'confirmed * v1',
    'applied * v2',
    'confirmed * v2',
    'applied * v3',
    'confirmed * v3',
    'applied gw-3 v1',
    'rolled-back gw-3 v1'
  ])

  await gw('gw-3').kill()
  const killedAt = Date.now()
  await sleep(2.5 * HEARTBEAT_MS + 300)
  const rows = await fleetStatus()
  process.stdout.write(
    `# gw-3 shown offline ${Date.now() - killedAt} ms after SIGKILL (heartbeat every ${HEARTBEAT_MS} ms)\n`
  )
  assert.equal(rows.find(r => r.gatewayId === 'gw-3').state, 'offline')
  for (const id of ['gw-1', 'gw-2']) assert.notEqual(rows.find(r => r.gatewayId === id).state, 'offline')
  const [r3] = await fleetStatus(['--rollout', '3', '--gateway', '*'])
  assert.equal(r3.counts.confirmed, 1, 'gw-3 confirmed v3 before it went offline')
  await gw('gw-3').launch()
})

test('early, clear errors: an oversized document is refused by sign; wrong topics and an unreachable cluster are one coded line', async () => {
  const hash = await hashSecret('device-secret-2')
  const big = {
    devices: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`dev-${i}`, { passwordHash: hash }]))
  }
  const src = join(dir, 'big.json')
  writeFileSync(src, JSON.stringify(big))
  // The config topic's own limit, read from the cluster.
  const admin = kafka.client().admin()
  await admin.connect()
  await admin.alterConfigs({
    validateOnly: false,
    resources: [{ type: 2, name: configTopic, configEntries: [{ name: 'max.message.bytes', value: '20000' }] }]
  })
  await admin.disconnect()
  const refused = await cli([
    'fleet',
    'sign',
    '--key',
    keyFile,
    '--gateway',
    '*',
    ...brokers,
    '--topic',
    configTopic,
    src
  ])
  assert.equal(refused.code, 2)
  assert.match(refused.stderr, /HF_ERR_FLEET_TOO_LARGE/)
  assert.match(refused.stderr, /max\.message\.bytes of topic/)
  assert.equal(refused.stdout, '')
  // Without a cluster: the documented default (1 MiB).
  const huge = {
    devices: Object.fromEntries(Array.from({ length: 9000 }, (_, i) => [`dev-${i}`, { passwordHash: hash }]))
  }
  writeFileSync(src, JSON.stringify(huge))
  const refused2 = await cli(['fleet', 'sign', '--key', keyFile, '--gateway', '*', src])
  assert.equal(refused2.code, 2)
  assert.match(refused2.stderr, /HF_ERR_FLEET_TOO_LARGE.*1048576 bytes.*default/)

  const small = await sign(['--gateway', '*'], 9, { batch: { lingerMs: 25 } })
  const wrong = await cli(['fleet', 'push', ...brokers, '--topic', topic, small])
  assert.equal(wrong.code, 2)
  assert.match(wrong.stderr, /HF_ERR_FLEET_TOPIC.*not compacted/)
  const notStatus = await cli(['fleet', 'status', ...brokers, '--topic', configTopic])
  assert.equal(notStatus.code, 2)
  assert.match(notStatus.stderr, /HF_ERR_FLEET_TOPIC.*config topic/)
  const down = await cli(['fleet', 'push', '--brokers', '127.0.0.1:1', '--request-timeout-ms', '1000', small])
  assert.equal(down.code, 2)
  assert.match(down.stderr, /^holdfast: HF_ERR_FLEET_KAFKA: /)
  assert.equal(down.stderr.trim().split('\n').length, 1, `one line: ${down.stderr}`)
})
