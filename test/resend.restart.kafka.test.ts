import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { useKafka, type KafkaBroker } from './harness/kafka.js'
import { GatewayProcess } from './harness/gateway.js'
import { consumeAll, createTopic } from './harness/consume.js'
import { connectPacket, openRaw, publishPacket, type Raw } from './harness/mqtt-raw.js'
import { readBuffer } from './harness/db.js'
import { waitFor } from './harness/wait.js'

// A real Apache Kafka broker (KRaft, single node, 127.0.0.1): the run's shared one under npm test.
let kafka: KafkaBroker
before(async () => {
  kafka = await useKafka()
})
after(async () => {
  await kafka?.dispose()
})

const DUP = 0x08
const TOPIC = 'devices/meter-9/telemetry'
const reading = (n: number): string => JSON.stringify({ ts: 1_700_000_000_000 + n, n })

/** A device on a raw socket: CONNECT, wait for CONNACK. What it receives after that it never reads. */
async function device(gw: GatewayProcess): Promise<Raw> {
  const raw = await openRaw(gw.mqttPort)
  raw.socket.write(connectPacket('meter-9'))
  await waitFor('CONNACK', () => Buffer.concat(raw.received)[0] === 0x20, 5000)
  return raw
}

/** PUBACK for packet id `id` among what the socket received. */
const pubacked = (raw: Raw, id: number): boolean =>
  Buffer.concat(raw.received).includes(Buffer.from([0x40, 0x02, id >> 8, id & 0xff]))

test('a re-send after a restart keeps its event id even when the original was already forwarded and deleted', async () => {
  const topic = await createTopic(kafka, 'resend-test', 1)
  const gw = await GatewayProcess.start({
    args: ['--kafka-brokers', kafka.brokers.join(','), '--kafka-topic', topic, '--batch-linger-ms', '0']
  })
  try {
    // The device publishes reading 1; its PUBACK never reaches it (it never reads the socket again).
    const first = await device(gw)
    first.socket.write(publishPacket(TOPIC, reading(1), 1, 7))
    // The reading is stored, forwarded to Kafka and deleted from the buffer...
    await waitFor(
      'reading 1 forwarded and deleted',
      async () => (await gw.status()).counters.forwarded >= 1 && readBuffer(gw.dataDir).length === 0,
      30_000
    )
    // ...and the gateway dies before the device learns anything (power cut: SIGKILL).
    await gw.kill()
    first.socket.destroy()

    await gw.launch()
    // The device re-sends reading 1 as MQTT says (same packet id, DUP set), then sends reading 2.
    const again = await device(gw)
    again.socket.write(publishPacket(TOPIC, reading(1), 1, 7, DUP))
    await waitFor('PUBACK of the re-send', () => pubacked(again, 7), 10_000)
    again.socket.write(publishPacket(TOPIC, reading(2), 1, 8))
    await waitFor('PUBACK of reading 2', () => pubacked(again, 8), 10_000)
    again.socket.destroy()

    // Kafka: reading 2 comes after any second copy of reading 1 (one device, one partition, in order).
    const batches = await consumeAll(kafka, topic, {
      until: (_, got) => got.some(b => b.readings.some(r => JSON.parse(r.payload.toString()).n === 2))
    })
    const all = batches.flatMap(b => b.readings)
    const copiesOf1 = all.filter(r => JSON.parse(r.payload.toString()).n === 1)
    assert.equal(
      new Set(copiesOf1.map(r => r.eventId)).size,
      1,
      `reading 1 is in Kafka under one event id (got ${copiesOf1.map(r => r.eventId).join(', ')})`
    )
    assert.equal(new Set(all.map(r => r.eventId)).size, 2, 'Kafka holds two readings: 1 once, and 2')
    const st = await gw.status()
    assert.equal(st.counters.duplicates, 1, 'the re-send was recognised and counted')
    assert.equal(st.counters.stored, 1, 'only reading 2 was stored in this run')
  } finally {
    await gw.stop()
  }
})
