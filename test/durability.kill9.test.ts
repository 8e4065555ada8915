import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import { startSim } from './harness/sim.js'
import { sleep } from './harness/wait.js'

test('SIGKILL at random points mid-stream loses no PUBACKed reading and stores none twice', async () => {
  await killMidStream('4')
})

// aedes 2 writes the MQTT 5 PUBACK after authorizePublish calls back, as for 3.1.1: re-proven here.
test('MQTT 5: SIGKILL at random points mid-stream loses no PUBACKed reading and stores none twice', async () => {
  await killMidStream('5')
})

async function killMidStream(protocol: '4' | '5'): Promise<void> {
  const gw = await GatewayProcess.start()
  const ackedLog = join(mkdtempSync(join(tmpdir(), 'hf-kill9-')), 'acked.log')
  const devices = 20
  const perDevice = 3000
  const sim = startSim([
    '--url',
    gw.url,
    '--devices',
    String(devices),
    '--prefix',
    'k9-',
    '--rate',
    '0',
    '--inflight',
    '5',
    '--count',
    String(perDevice),
    '--acked-log',
    ackedLog,
    '--protocol',
    protocol
  ])
  const kills: number[] = []
  try {
    for (let k = 0; k < 4 && sim.child.exitCode === null; k++) {
      await sleep(300 + Math.floor(Math.random() * 500))
      const before = (await gw.status()).backlog.readings as number
      await gw.kill()
      kills.push(before)
      await sleep(Math.floor(Math.random() * 300))
      await gw.launch()
    }
    const result = await sim.result
    assert.equal(result.failed, 0, result.stderr)
    assert.equal(result.acked, devices * perDevice, 'the fleet got every reading acknowledged in the end')
  } finally {
    sim.child.kill()
    await gw.stop()
  }
  assert.ok(
    kills.length >= 3 && kills[kills.length - 1]! < devices * perDevice,
    `at least 3 kills happened mid-stream (buffered before each kill: ${kills.join(', ')})`
  )

  const acked = new Set(readFileSync(ackedLog, 'utf8').trim().split('\n'))
  assert.equal(acked.size, devices * perDevice)
  const stored = new Map<string, number>()
  for (const r of readBuffer(gw.dataDir)) {
    const key = `${r.device} ${JSON.parse(r.payload.toString()).n as number}`
    stored.set(key, (stored.get(key) ?? 0) + 1)
  }
  const missing = [...acked].filter(k => !stored.has(k))
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged readings missing after SIGKILLs`)
  const twice = [...stored].filter(([, n]) => n > 1)
  assert.deepEqual(twice.slice(0, 10), [], `${twice.length} readings stored more than once`)
  assert.equal(stored.size, devices * perDevice)
}
