import { test } from 'node:test'
import assert from 'node:assert/strict'
import { GatewayProcess } from './harness/gateway.js'
import { readBuffer } from './harness/db.js'
import { seeded } from '../device-sim/telemetry.js'
import { connectAs, devicesConfig, secretOf, sleep, writeConfig } from './harness/devices.js'
import { publishPaced } from './harness/fleet.js'
import {
  DISCONNECT,
  PINGREQ,
  connect5Packet,
  connectPacket,
  openRaw,
  publish5Packet,
  publishPacket,
  str,
  subscribePacket,
  unsubscribePacket,
  varint,
  type Raw
} from './harness/mqtt-raw.js'

/** mulberry32, seeded, so a failing run can be replayed with HF_FUZZ_SEED. */
const prng = seeded

const FUZZERS = 6
const MAX_PACKETS = 4000
const MAX_MS = 6000

test('random and mutated MQTT packets from several connections: good devices stay served and lose no acknowledged reading', async t => {
  const seed = Number(process.env.HF_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))
  t.diagnostic(`HF_FUZZ_SEED=${seed}`)
  const rnd = prng(seed)
  const int = (n: number): number => Math.floor(rnd() * n)
  const good = ['good-0', 'good-1', 'good-2', 'good-3', 'good-4']
  const fuzzIds = Array.from({ length: FUZZERS }, (_, i) => `fuzz-${i}`)
  const config = writeConfig({
    devices: await devicesConfig([...good, ...fuzzIds, 'late-1']),
    // The fuzzers share 127.0.0.1 with the good devices: keep the per-address limits out of the way.
    mqtt: {
      authFailureBurst: 1_000_000,
      connBurstPerAddress: 1_000_000,
      connRatePerAddress: 1_000_000,
      maxPayloadBytes: 4096,
      connectTimeoutMs: 1000
    }
  })
  const gw = await GatewayProcess.start({ anonymous: false, args: ['--config', config] })
  try {
    // Two of the good devices speak MQTT 5, the others 3.1.1.
    const goodClients = await Promise.all(
      good.map(async (id, i) => await connectAs(gw.url, id, i >= 3 ? { protocolVersion: 5 } : {}))
    )
    const goodRun = Promise.all(
      goodClients.map(
        async (c, i) => await publishPaced(c, good[i]!, { rate: 20, durationMs: MAX_MS, window: 10, drainMs: 5000 })
      )
    )

    // Valid packets to start from; mutations turn them into near-misses, random bytes into noise.
    const templates = (id: string): Buffer[] => [
      connectPacket(id, id, secretOf(id)),
      connectPacket(id, id, 'wrong-secret'),
      publishPacket(`devices/${id}/t`, '{"ts":1700000000000,"n":1}', 0),
      publishPacket(`devices/${id}/t`, '{"ts":1700000000000,"n":2}', 1, 11),
      publishPacket(`devices/${id}/t`, '{"ts":1700000000000,"n":3}', 2, 12),
      publishPacket('devices/good-0/telemetry', '{"ts":1,"forged":true}', 1, 13),
      publishPacket(`devices/${id}/r`, 'x', 1, 14, 1),
      subscribePacket(15, [`devices/${id}/cmd/#`, '#', '$SYS/#']),
      unsubscribePacket(16, [`devices/${id}/cmd/#`]),
      Buffer.from([0x40, 2, 0, 11]),
      Buffer.from([0x50, 2, 0, 12]),
      Buffer.from([0x62, 2, 0, 12]),
      Buffer.from([0x70, 2, 0, 12]),
      PINGREQ,
      DISCONNECT
    ]
    // MQTT 5: properties of random kinds and values, sometimes of the wrong type or for the wrong packet.
    const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)))
    const pstr = (): Buffer => str(bytes(int(12)).toString('latin1'))
    const PROPERTY: Array<[number, () => Buffer]> = [
      [0x01, () => Buffer.from([int(3)])],
      [0x02, () => bytes(4)],
      [0x03, () => str(rnd() < 0.5 ? 'application/json' : 'application/cbor')],
      [0x08, () => str(rnd() < 0.8 ? 'devices/x/resp' : 'a/#')],
      [0x09, () => str(bytes(int(16)))],
      [0x0b, () => varint(int(300))],
      [0x11, () => bytes(4)],
      [0x15, pstr],
      [0x17, () => Buffer.from([int(3)])],
      [0x19, () => Buffer.from([int(3)])],
      [0x21, () => Buffer.from([0, int(4)])],
      [0x22, () => Buffer.from([0, int(20)])],
      [0x23, () => Buffer.from([0, int(20)])],
      [0x26, () => Buffer.concat([pstr(), pstr()])],
      [0x27, () => bytes(4)]
    ]
    const props = (): Buffer => {
      if (rnd() < 0.1) return bytes(int(20))
      const parts: Buffer[] = []
      for (let k = int(5); k > 0; k--) {
        const [id, value] = PROPERTY[int(PROPERTY.length)]!
        parts.push(Buffer.from([id]), value())
      }
      return Buffer.concat(parts)
    }
    const templates5 = (id: string): Buffer[] => [
      connect5Packet(id, id, secretOf(id), rnd() < 0.5 ? Buffer.alloc(0) : props()),
      connect5Packet(id, id, 'wrong-secret', props()),
      publish5Packet(`devices/${id}/t`, '{"ts":1700000000000,"n":1}', 0, 0, props()),
      publish5Packet(`devices/${id}/t`, '{"ts":1700000000000,"n":2}', 1, 21, props()),
      publish5Packet(`devices/${id}/t`, '{"ts":1700000000000,"n":3}', 2, 22, props()),
      publish5Packet('', '{"ts":1700000000000,"n":4}', 1, 23, Buffer.from([0x23, 0, 1 + int(3)])),
      publish5Packet('devices/good-0/telemetry', '{"ts":1,"forged":true}', 1, 24, props()),
      subscribePacket(15, [`devices/${id}/cmd/#`, '$share/g/devices/#']),
      Buffer.from([0x40, 3, 0, 21, 0x80]),
      Buffer.from([0xe0, 1, 0x04]),
      PINGREQ
    ]
    const mutate = (b: Buffer): Buffer => {
      const out = Buffer.from(b)
      switch (int(7)) {
        case 0:
          for (let k = 1 + int(4); k > 0; k--) out[int(out.length)] = int(256)
          return out
        case 1:
          return out.subarray(0, int(out.length))
        case 2:
          return Buffer.concat([out, Buffer.from(Array.from({ length: 1 + int(40) }, () => int(256)))])
        case 3:
          return Buffer.concat([Buffer.from([out[0]!]), varint(int(rnd() < 0.5 ? 300 : 268_435_455)), out.subarray(2)])
        case 4:
          out[0] = int(256)
          return out
        case 5:
          return Buffer.from(Array.from({ length: 1 + int(200) }, () => int(256)))
        default:
          return out
      }
    }

    let packets = 0
    const started = Date.now()
    const within = (): boolean => packets < MAX_PACKETS && Date.now() - started < MAX_MS
    const fuzzer = async (id: string): Promise<void> => {
      while (within()) {
        // Half the connections speak MQTT 5, with fresh random properties each.
        const tpl = rnd() < 0.5 ? templates5(id) : templates(id)
        let raw: Raw
        try {
          raw = await openRaw(gw.mqttPort)
        } catch {
          await sleep(20)
          continue
        }
        let open = true
        void raw.closed.then(() => {
          open = false
        })
        if (rnd() < 0.7) {
          raw.socket.write(tpl[0]!)
          await sleep(5 + int(30))
        }
        for (let burst = 1 + int(12); burst > 0 && open && within(); burst--) {
          const p = rnd() < 0.25 ? tpl[int(tpl.length)]! : mutate(tpl[int(tpl.length)]!)
          raw.socket.write(p)
          packets++
          if (rnd() < 0.3) await sleep(int(15))
        }
        await Promise.race([raw.closed, sleep(20 + int(80))])
        raw.socket.destroy()
      }
    }
    await Promise.all(fuzzIds.map(fuzzer))
    t.diagnostic(`${packets} fuzz packets in ${Date.now() - started} ms`)
    assert.ok(packets > 500, `the fuzzers got their packets in (${packets})`)

    const results = await goodRun
    // A good device cut off would leave endAsync pending with nothing else alive: say who, and fail.
    const cutOff = goodClients.flatMap((c, i) => (c.connected ? [] : [good[i]!]))
    if (cutOff.length > 0) {
      const warnings = gw
        .log()
        .split('\n')
        .filter(l => /"level":"(warn|error|fatal)"/.test(l))
      t.diagnostic(`gateway warnings and errors:\n${warnings.slice(-30).join('\n')}`)
    }
    assert.deepEqual(cutOff, [], `good devices disconnected during the fuzzing: ${cutOff.join(', ')}`)
    await Promise.all(goodClients.map(async c => await c.endAsync()))
    // Still serving: health, readiness and a device that connects only now.
    assert.equal((await fetch(`${gw.http}/readyz`)).status, 200)
    const late = await connectAs(gw.url, 'late-1')
    await late.publishAsync('devices/late-1/telemetry', '{"ts":1700000000000,"n":0}', { qos: 1 })
    await late.endAsync()

    const status = await gw.status()
    t.diagnostic(
      `refused ${JSON.stringify(status.counters.refused)} dropped ${JSON.stringify(status.counters.dropped)}`
    )
    assert.ok(status.counters.refused.protocol_error > 0, 'malformed packets were counted')
    const rows = readBuffer(gw.dataDir)
    for (const r of results) {
      // A count, not a rate: a loaded CI machine paces fewer, but a device cut off sends none after the fuzzing starts.
      assert.ok(r.sent >= 20, `${r.id} kept publishing (${r.sent})`)
      assert.equal(r.acked, r.sent, `${r.id}: every reading acknowledged`)
      const stored = rows.filter(row => row.device === r.id).map(row => JSON.parse(row.payload.toString()).n as number)
      assert.deepEqual(
        stored,
        r.ackedNs.slice().sort((a, b) => a - b),
        `${r.id}: acked == stored, in order, once`
      )
    }
    // A fuzzer may store odd bytes under its own id (a mangled length swallows the next packet), never under another's.
    const foreign = rows.filter(r => !good.includes(r.device) && r.device !== 'late-1' && !fuzzIds.includes(r.device))
    assert.deepEqual(
      foreign.map(r => r.device),
      [],
      'readings only under the ids that logged in'
    )
    for (const r of rows.filter(row => fuzzIds.includes(row.device)))
      assert.ok(r.topic.startsWith(`devices/${r.device}/`), r.topic)
  } finally {
    const code = await gw.stop()
    assert.equal(code, 0, `gateway exited cleanly:\n${gw.log().slice(-2000)}`)
  }
})
