import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import mqtt from 'mqtt'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'

// An MQTT 5 Content Type / Payload Format Indicator decides how a payload is read, before sniffing.
let gw: GatewayProcess
before(async () => {
  gw = await GatewayProcess.start()
})
after(async () => {
  await gw.stop()
})

test('event time: read from a payload declared application/json or UTF-8, not from one declared another type, sniffed without a declaration', async () => {
  const c = await mqtt.connectAsync(gw.url, { clientId: 'fmt-1', protocolVersion: 5, reconnectPeriod: 0 })
  const body = (n: number): string => `{"ts":${1_700_000_000_000 + n},"n":${n}}`
  await c.publishAsync('devices/fmt-1/telemetry', body(1), { qos: 1, properties: { contentType: 'application/json' } })
  await c.publishAsync('devices/fmt-1/telemetry', body(2), { qos: 1, properties: { contentType: 'text/plain' } })
  await c.publishAsync('devices/fmt-1/telemetry', body(3), { qos: 1, properties: { payloadFormatIndicator: true } })
  await c.publishAsync('devices/fmt-1/telemetry', body(4), { qos: 1 })
  await c.endAsync()
  const ev = new Map(
    readBuffer(gw.dataDir)
      .filter(r => r.device === 'fmt-1')
      .map(r => [JSON.parse(r.payload.toString()).n as number, r.event_ms])
  )
  assert.equal(ev.get(1), 1_700_000_000_001)
  assert.equal(ev.get(2), null, 'declared text/plain: not parsed')
  assert.equal(ev.get(3), 1_700_000_000_003)
  assert.equal(ev.get(4), 1_700_000_000_004, 'nothing declared: sniffed as before')
})
