/**
 * The technician's actions against a real Kafka broker: "Drain now" reports how many readings
 * Kafka acknowledged (and that nothing went while paused), and once Kafka stops, the outage clock
 * starts at the last delivery and stays there across pause and resume.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { GatewayProcess, runCli } from './harness/gateway.js'
import { startKafka } from './harness/kafka.js'
import { consumeAll, createTopic, dedupe } from './harness/consume.js'
import { startSim } from './harness/sim.js'
import { sleep, waitFor } from './harness/wait.js'

const PASSWORD = 'technician-on-site-42'
const DEVICES = 4
const PER_DEVICE = 30

test('drain now says what it sent; the outage clock starts at the last delivery and survives pause/resume', async () => {
  const kafka = await startKafka()
  let gw: GatewayProcess | undefined
  try {
    const topic = await createTopic(kafka, 'hf-actions')
    const hash = (await runCli(['hash-password'], { input: `${PASSWORD}\n` })).stdout.trim()
    gw = await GatewayProcess.start({
      args: [
        '--status-password-hash',
        hash,
        '--kafka-brokers',
        kafka.brokers.join(','),
        '--kafka-topic',
        topic,
        '--kafka-request-timeout-ms',
        '2000',
        '--uplink-probe-interval-ms',
        '500',
        '--uplink-backoff-max-ms',
        '1000',
        // Partial batches wait a minute for company (and the adaptive linger never fills up here): only
        // "Drain now" sends them sooner.
        '--batch-linger-ms',
        '60000',
        '--batch-linger-readings-per-device',
        '100000'
      ]
    })
    const g = gw
    const login = await fetch(`${g.http}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ password: PASSWORD })
    })
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!
    const { csrf } = (await login.json()) as { csrf: string }
    const act = async (name: string): Promise<any> => {
      const r = await fetch(`${g.http}/api/actions/${name}`, {
        method: 'POST',
        headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
        body: '{}'
      })
      assert.equal(r.status, 200, name)
      return await r.json()
    }
    await waitFor('uplink connected', async () => (await g.status()).uplink.state === 'connected')

    const sim = startSim(['--url', g.url, '--devices', String(DEVICES), '--rate', '50', '--count', String(PER_DEVICE)])
    await sim.result
    const total = DEVICES * PER_DEVICE
    await waitFor('readings buffered', async () => (await g.status()).backlog.readings === total)

    // Paused: nothing goes, and the answer says why.
    await act('pause')
    const paused = await act('drain')
    assert.equal(paused.result.outcome, 'paused')
    assert.equal(paused.result.sent, 0)
    assert.equal((await g.status()).backlog.readings, total)
    await act('resume')

    const drained = await act('drain')
    assert.equal(drained.result.outcome, 'sent')
    assert.equal(drained.result.sent, total)
    assert.equal(drained.result.backlog, 0)
    const { unique } = dedupe(await consumeAll(kafka, topic, { until: n => n >= total, timeoutMs: 30_000 }))
    assert.equal(unique.length, total)
    const empty = await act('drain')
    assert.equal(empty.result.outcome, 'empty')

    // Kafka goes away: the outage starts at the last delivery (a probe or a send), not at "down".
    const lastOk = (await g.status()).uplink.lastDeliveredAt as string
    await kafka.stop()
    const down = await waitFor(
      'uplink down',
      async () => {
        const s = await g.status()
        return s.uplink.state === 'down' ? s : undefined
      },
      30_000
    )
    assert.equal(down.uplink.outageSince, down.uplink.lastDeliveredAt)
    assert.ok(Date.parse(down.uplink.outageSince) >= Date.parse(lastOk))
    assert.ok(Date.parse(down.uplink.outageSince) < Date.parse(down.uplink.since), 'earlier than the state change')
    await act('pause')
    await sleep(1500)
    const whilePaused = await g.status()
    assert.equal(whilePaused.uplink.state, 'paused')
    assert.equal(whilePaused.uplink.link, 'down')
    assert.equal(whilePaused.uplink.outageSince, down.uplink.outageSince)
    assert.equal(whilePaused.health.level, 'crit', 'a pause does not hide the outage')
    const resumed = await act('resume')
    assert.equal(resumed.uplink.state, 'down')
    assert.equal(resumed.uplink.outageSince, down.uplink.outageSince, 'resume does not restart the clock')
    const history = (await g.status()).uplinkHistory.map((h: { state: string }) => h.state)
    assert.ok(history.includes('paused') && history.includes('resumed'))
  } finally {
    await gw?.stop()
    await kafka.dispose()
  }
})
