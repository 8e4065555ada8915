import { test } from 'node:test'
import assert from 'node:assert/strict'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import { connectAs, devicesConfig, writeConfig } from './harness/devices.js'
import { percentile, publishPaced } from './harness/fleet.js'

test('one device at 20x its rate quota beside 50 well-behaved ones: they lose nothing, it is slowed, nothing is lost silently', async t => {
  const good = Array.from({ length: 50 }, (_, i) => `good-${i}`)
  const quota = 50
  const config = writeConfig({
    devices: await devicesConfig([...good, 'flooder'], id =>
      id === 'flooder' ? { quota: { msgsPerS: quota, msgsBurst: quota } } : {}
    )
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  const durationMs = 5000
  try {
    const clients = await Promise.all([...good, 'flooder'].map(async id => await connectAs(gw.url, id)))
    const t0 = performance.now()
    const results = await Promise.all(
      clients.map(async (c, i) => {
        const id = i < good.length ? good[i]! : 'flooder'
        return id === 'flooder'
          ? await publishPaced(c, id, { rate: 20 * quota, durationMs, window: 200, drainMs: 8000 })
          : await publishPaced(c, id, { rate: 5, durationMs, window: 10, drainMs: 3000 })
      })
    )
    const elapsedS = (performance.now() - t0) / 1000
    await Promise.all(clients.map(async c => await c.endAsync()))
    const status = await gw.status()
    const stored = new Map<string, number[]>()
    for (const r of readBuffer(gw.dataDir)) {
      const list = stored.get(r.device) ?? []
      list.push(JSON.parse(r.payload.toString()).n)
      stored.set(r.device, list)
    }

    const flooder = results.find(r => r.id === 'flooder')!
    const goodResults = results.filter(r => r.id !== 'flooder')
    for (const r of goodResults) {
      assert.equal(r.deferred, 0, `${r.id} never found its window full`)
      assert.equal(r.acked, r.sent, `${r.id}: every reading acknowledged`)
      assert.deepEqual(
        stored.get(r.id),
        r.ackedNs.slice().sort((a, b) => a - b),
        `${r.id}: acked == stored, in order`
      )
      assert.deepEqual(status.devices.find((d: any) => d.id === r.id).dropped, {}, `${r.id}: nothing dropped`)
    }
    // Their PUBACK latency is a figure, not an outcome: `node dist/bench/flood.js` measures it (goodP99Ms).
    t.diagnostic(
      `well-behaved PUBACK p99 ${percentile(
        goodResults.flatMap(r => r.latencies),
        0.99
      )} ms (not asserted; see bench/flood.ts)`
    )

    // The flooder: everything sent was eventually acknowledged (held, not dropped), and acked == stored.
    assert.equal(flooder.acked, flooder.sent, "the flooder's excess was held, then acknowledged — none refused")
    assert.deepEqual(
      stored.get('flooder'),
      flooder.ackedNs.slice().sort((a, b) => a - b),
      'flooder: acked == stored'
    )
    const f = status.devices.find((d: any) => d.id === 'flooder')
    assert.deepEqual(f.dropped, {})
    assert.equal(f.received, flooder.acked)
    assert.ok(f.quota.usage.throttledPublishes > 0, 'its publishes were held')
    // Served at its quota (burst + rate x time), not at the 20x it tried.
    assert.ok(
      flooder.acked <= quota + quota * elapsedS + 5,
      `flooder acked ${flooder.acked} in ${elapsedS.toFixed(1)} s`
    )
    // Still served past its burst (held, not cut off), and it tried for more than it was given.
    assert.ok(flooder.acked > quota, `flooder still served: ${flooder.acked}`)
    assert.ok(flooder.attempted > flooder.acked, `it really flooded: ${flooder.attempted} attempts`)

    // The gateway's arithmetic: everything received was stored, nothing dropped anywhere.
    assert.equal(status.counters.received, status.counters.stored)
    assert.equal(
      status.counters.stored,
      results.reduce((a, r) => a + r.acked, 0)
    )
    assert.ok(Object.values(status.counters.dropped).every(v => v === 0))
  } finally {
    await gw.stop()
  }
})
