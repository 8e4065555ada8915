import { test } from 'node:test'
import assert from 'node:assert/strict'
import { GatewayProcess } from './harness/gateway.js'
import { startSim } from './harness/sim.js'

const DEVICES = 250
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)

interface Doc {
  counters: { received: number; stored: number; duplicates: number }
  lifetime: { received: number; stored: number; duplicates: number; forwarded: number }
  devices: Array<{
    id: string
    received: number
    stored: number
    duplicates: number
    lifetime: { received: number; stored: number; duplicates: number; forwarded: number }
  }>
}

test('/api/status while devices publish: every document is one instant (device rows add up to the counters and lifetime totals)', async () => {
  const gw = await GatewayProcess.start()
  const sim = startSim([
    '--url',
    `mqtt://127.0.0.1:${gw.mqttPort}`,
    '--devices',
    String(DEVICES),
    '--rate',
    '4',
    '--duration',
    '12'
  ])
  try {
    const docs: Doc[] = []
    let done = false
    void sim.result.finally(() => {
      done = true
    })
    // Fetched back to back, several at once now and then (they share builds), until the fleet stops or
    // enough were taken with the whole fleet publishing (a slow machine's ramp-up alone can take hundreds).
    const isBusy = (d: Doc): boolean => d.devices.length === DEVICES && d.counters.received > 0
    let busyTaken = 0
    while (!done && busyTaken < 200 && docs.length < 5000) {
      const n = docs.length % 5 === 0 ? 3 : 1
      const got = await Promise.all(
        Array.from({ length: n }, async () => (await (await fetch(`${gw.http}/api/status`)).json()) as Doc)
      )
      docs.push(...got)
      busyTaken += got.filter(isBusy).length
    }
    const r = await sim.result
    assert.ok(r.acked > 0, `the fleet published (${r.stderr})`)
    const busy = docs.filter(isBusy)
    const rows = [...new Set(docs.map(d => d.devices.length))].join(',')
    assert.ok(
      busy.length >= 10,
      `documents taken while the whole fleet was connected and publishing: ${busy.length} of ${docs.length} (device rows seen: ${rows}; sim: ${JSON.stringify({ ...r, stderr: r.stderr.slice(-500) })})`
    )
    assert.ok(new Set(busy.map(d => d.counters.received)).size >= 5, 'the counts moved between documents')
    for (const d of docs) {
      const at = `document with counters.received = ${d.counters.received}`
      for (const k of ['received', 'stored', 'duplicates'] as const) {
        assert.equal(sum(d.devices.map(x => x[k])), d.counters[k], `${at}: devices[].${k} adds up to counters.${k}`)
        assert.equal(
          sum(d.devices.map(x => x.lifetime[k])),
          d.lifetime[k],
          `${at}: devices[].lifetime.${k} adds up to lifetime.${k}`
        )
      }
      assert.equal(sum(d.devices.map(x => x.lifetime.forwarded)), d.lifetime.forwarded, `${at}: lifetime.forwarded`)
    }
  } finally {
    sim.child.kill()
    await gw.stop()
  }
})
