import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { useKafka, type KafkaBroker } from './harness/kafka.js'
import { GatewayProcess } from './harness/gateway.js'
import { startSim } from './harness/sim.js'
import { writeConfig } from './harness/devices.js'
import { sleep } from './harness/wait.js'
import { consumeAll, createTopic } from './harness/consume.js'

// The uplink budget against the real Kafka broker: as a small daily budget runs out, telemetry goes
// rollups-only (50 %), then telemetry is held (80 %), then events are held (100 %); alarms always go.
// Held readings stay in the buffer and go out once the budget allows (here: restarted without one).

let kafka: KafkaBroker
before(async () => {
  kafka = await useKafka()
})
after(async () => {
  await kafka?.dispose()
})

const BUDGET = 40_000

test('a small uplink budget degrades telemetry to rollups, then holds it, then events; alarms still go', async () => {
  const topic = await createTopic(kafka, 'budget-test')
  const config = writeConfig({
    aggregate: { rules: { tele: { topics: ['devices/+/telemetry'], mode: 'both', windowMs: 1000, latenessMs: 200 } } }
  })
  const args = [
    '--config',
    config,
    '--kafka-brokers',
    kafka.brokers.join(','),
    '--kafka-topic',
    topic,
    '--kafka-request-timeout-ms',
    '2000',
    '--uplink-backoff-max-ms',
    '1000',
    '--uplink-probe-interval-ms',
    '500'
  ]
  const gw = await GatewayProcess.start({ args: [...args, '--budget-bytes-per-day', String(BUDGET)] })
  const ackedLog = join(mkdtempSync(join(tmpdir(), 'hf-budget-')), 'acked.log')
  const urgent = await mqtt.connectAsync(gw.url, { clientId: 'urgent-pub' })
  let stop = false
  let alarms = 0
  let events = 0
  const shares: number[] = []
  try {
    const sim = startSim([
      '--url',
      gw.url,
      '--devices',
      '5',
      '--rate',
      '10',
      '--duration',
      '120',
      '--acked-log',
      ackedLog
    ])
    // Events (a few hundred bytes each, incompressible) and alarms, all along.
    const urgentLoop = (async () => {
      for (let k = 0; !stop; k++) {
        await urgent.publishAsync(
          'devices/sim-0/event/log',
          JSON.stringify({ ts: Date.now(), n: k, blob: randomBytes(150).toString('base64') }),
          { qos: 1 }
        )
        events++
        if (k % 4 === 0) {
          await urgent.publishAsync(
            'devices/sim-1/alarm',
            JSON.stringify({ ts: Date.now(), n: alarms, code: 'overpressure' }),
            { qos: 1 }
          )
          alarms++
        }
        await sleep(250)
      }
    })()
    // Until the budget is spent, then a few seconds more: alarms keep going.
    const deadline = Date.now() + 100_000
    let spentAt = 0
    for (;;) {
      const st = await gw.status()
      shares.push(st.budget.share)
      if (spentAt === 0 && st.budget.share >= 1) spentAt = Date.now()
      if (spentAt > 0 && Date.now() - spentAt > 4000) break
      assert.ok(Date.now() < deadline, `budget spent within the time (share ${st.budget.share})`)
      await sleep(250)
    }
    stop = true
    await urgentLoop
    sim.child.kill('SIGINT')
    await sim.result.catch(() => {})

    const st = await gw.status()
    process.stdout.write(
      `# budget ${BUDGET}: used ${st.budget.day.usedBytes}, projected ${st.budget.day.projectedBytes}; ${events} events, ${alarms} alarms\n`
    )
    assert.equal(st.budget.enabled, true)
    assert.equal(st.budget.day.budgetBytes, BUDGET)
    assert.ok(st.budget.day.usedBytes >= BUDGET)
    assert.ok(st.budget.day.projectedBytes >= st.budget.day.usedBytes, 'projection for the day')
    const state = Object.fromEntries(st.budget.classes.map((c: any) => [c.name, c.state]))
    assert.deepEqual(state, { alarm: 'normal', event: 'held', telemetry: 'held' })
    // Held locally, not lost: telemetry raw and rollups and events wait in the buffer.
    const lanes = st.aggregation.lanes.map((l: any) => `${l.priority}/${l.kind}`)
    for (const l of ['1/raw', '0/rollup', '0/raw'])
      assert.ok(lanes.includes(l), `lane ${l} holds readings (${lanes.join(', ')})`)
    assert.ok(!lanes.includes('2/raw'), 'no alarm waits')

    const got = await consumeAll(kafka, topic, {
      timeoutMs: 90_000,
      until: (_n, g) => g.reduce((n, m) => n + (m.cls === 'alarm' ? m.readings.length : 0), 0) >= alarms
    })
    const last = (cls: string, kind: string): number =>
      Math.max(...got.filter(g => g.cls === cls && g.type === kind).map(g => g.timestamp))
    const tRaw = last('telemetry', 'raw')
    const tRollup = last('telemetry', 'rollup')
    const tEvent = last('event', 'raw')
    const tAlarm = last('alarm', 'raw')
    process.stdout.write(
      `# last telemetry raw +0 ms, telemetry rollup +${tRollup - tRaw} ms, event +${tEvent - tRaw} ms, alarm +${tAlarm - tRaw} ms\n`
    )
    assert.ok(tRaw < tRollup, 'telemetry rollups kept going after raw telemetry was held')
    assert.ok(tRollup < tEvent, 'events kept going after telemetry was held')
    assert.ok(tEvent < tAlarm, 'alarms kept going after events were held')
    const alarmIds = new Set(
      got.filter(g => g.cls === 'alarm').flatMap(g => g.readings.map(r => JSON.parse(r.payload.toString()).n))
    )
    assert.equal(alarmIds.size, alarms, 'every alarm reached Kafka, budget or not')
  } finally {
    stop = true
    urgent.end(true)
    await gw.stop()
  }

  // Held for later: the same buffer without a budget sends everything that waited.
  const free = await GatewayProcess.start({ dataDir: gw.dataDir, args })
  try {
    const deadline = Date.now() + 60_000
    while ((await free.status()).backlog.readings > 0) {
      assert.ok(Date.now() < deadline, 'held readings drain once the budget allows')
      await sleep(250)
    }
  } finally {
    await free.stop()
  }
  const acked = readFileSync(ackedLog, 'utf8')
    .trim()
    .split('\n')
    .filter(l => l !== '')
  const got = await consumeAll(kafka, topic, {
    timeoutMs: 90_000,
    until: (_n, g) =>
      g.reduce((n, m) => n + (m.cls === 'telemetry' && m.type === 'raw' ? m.readings.length : 0), 0) >= acked.length
  })
  const present = new Set(
    got
      .filter(g => g.type === 'raw')
      .flatMap(g => g.readings.map(r => `${r.device} ${JSON.parse(r.payload.toString()).n}`))
  )
  const missing = acked.filter(k => !present.has(k))
  assert.deepEqual(
    missing.slice(0, 5),
    [],
    `${missing.length} of ${acked.length} acknowledged telemetry readings missing in Kafka`
  )
})
