import { createTopicReady } from './harness/consume.js'
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import { useKafka, type KafkaBroker } from './harness/kafka.js'
import { consumeAll, dedupe } from './harness/consume.js'
import { sleep } from './harness/wait.js'

// The gateway's wall clock is stepped with libfaketime (LD_PRELOAD; the host clock is untouched):
// a board without an RTC boots with a wrong time until NTP sets it.
const LIB = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1'
].find(existsSync)

function fakeClock(): { env: Record<string, string>; set: (offset: string) => void } {
  const file = join(mkdtempSync(join(tmpdir(), 'hf-clock-')), 'offset')
  writeFileSync(file, '+0\n')
  return {
    env: { LD_PRELOAD: LIB!, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
    set: offset => writeFileSync(file, `${offset}\n`)
  }
}

async function publish(gw: GatewayProcess, device: string, from: number, count: number): Promise<void> {
  const c = await mqtt.connectAsync(gw.url, { clientId: device })
  for (let n = from; n < from + count; n++)
    await c.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ n, v: n }), { qos: 1 })
  await c.endAsync()
}

let kafka: KafkaBroker
before(async () => {
  kafka = await useKafka()
})
after(async () => {
  await kafka?.dispose()
})

test('wall clock stepped back and forward: receive times stay ordered', {
  skip: LIB === undefined ? 'libfaketime not installed' : false
}, async () => {
  const clock = fakeClock()
  const gw = await GatewayProcess.start({ env: clock.env })
  try {
    await publish(gw, 'clk', 0, 20)
    clock.set('-3600s') // an hour back
    await publish(gw, 'clk', 20, 20)
    await sleep(7000) // the step settles and is followed
    await publish(gw, 'clk', 40, 20)
    clock.set('+7200s') // then forward
    await publish(gw, 'clk', 60, 20)
    await sleep(7000)
    await publish(gw, 'clk', 80, 20)
    const st = await gw.status()
    assert.ok(st.clock.steps >= 2, `clock steps seen: ${st.clock.steps}`)
  } finally {
    await gw.stop()
  }
  const rows = readBuffer(gw.dataDir)
  assert.equal(rows.length, 100)
  for (let i = 1; i < rows.length; i++)
    assert.ok(rows[i]!.recv_ms >= rows[i - 1]!.recv_ms, `receive time went backwards at seq ${rows[i]!.seq}`)
})

test('booted with a clock a day behind: receive times stay ordered and are corrected once NTP sets the clock', {
  skip: LIB === undefined ? 'libfaketime not installed' : false
}, async () => {
  const topic = `clock-${Date.now()}`
  await createTopicReady(kafka, { topic, numPartitions: 1 })
  // First life, two hours ago: some readings (the newest sets the floor for the next boot).
  const early = fakeClock()
  early.set('-7200s')
  const gw = await GatewayProcess.start({ env: early.env })
  await publish(gw, 'rtc', 0, 5)
  await gw.stop()
  // Second life: the board boots a day behind; no uplink yet, so readings stay buffered.
  const clock = fakeClock()
  clock.set('-86400s')
  const wrong = await GatewayProcess.start({ dataDir: gw.dataDir, env: clock.env })
  const bootedAt = Date.now()
  let st: Awaited<ReturnType<typeof wrong.status>>
  try {
    st = await wrong.status()
    assert.equal(st.clock.state, 'unsynced')
    await publish(wrong, 'rtc', 5, 5)
    clock.set('+0') // NTP sets the clock
    const deadline = Date.now() + 20_000
    while ((st = await wrong.status()).clock.state !== 'synced' && Date.now() < deadline) await sleep(250)
    assert.equal(st.clock.state, 'synced')
    await publish(wrong, 'rtc', 10, 5)
  } finally {
    await wrong.stop()
  }
  const stored = readBuffer(gw.dataDir)
  for (let i = 1; i < stored.length; i++) assert.ok(stored[i]!.recv_ms >= stored[i - 1]!.recv_ms, 'ordered as stored')
  // Third life, right clock and an uplink: what reaches Kafka carries corrected receive times.
  const ok = await GatewayProcess.start({
    dataDir: gw.dataDir,
    args: ['--kafka-brokers', kafka.brokers.join(','), '--kafka-topic', topic]
  })
  try {
    const { unique } = dedupe(await consumeAll(kafka, topic, { until: n => n >= 15 }))
    assert.equal(unique.length, 15)
    const byN = new Map(unique.map(r => [JSON.parse(r.payload.toString()).n as number, r.recvMs]))
    for (let n = 5; n < 10; n++) {
      const t = byN.get(n)!
      assert.ok(
        Math.abs(t - bootedAt) < 60_000,
        `reading ${n} received while unsynced is corrected to real time (off by ${Math.round((t - bootedAt) / 1000)} s)`
      )
    }
    const times = [...Array(15).keys()].map(n => byN.get(n)!)
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! >= times[i - 1]!, `corrected times in order at ${i}`)
  } finally {
    await ok.stop()
  }
})
