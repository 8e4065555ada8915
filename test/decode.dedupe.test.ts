import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { encodeBatch, frameStream } from '../src/codec/index.js'
import type { StoredReading } from '../src/store/reading.js'
import { CLI } from './harness/gateway.js'

// `holdfast decode` de-duplicates a long stream in bounded memory: 500,000 readings decoded under a
// 40 MB heap cap (a set of every event id seen needs ~60 bytes per reading, 30 MB here, on top of the
// decoder's own working set), with re-sent batches inside the window removed, out-of-order lanes inside
// the window printed as new, and what lies beyond the window printed and counted `unverified`.

const GW = 'dedupe-gw'
const DEVICES = 40
const ROUNDS = 50
const PER_BATCH = 250
const WINDOW = 20_000

/**
 * One device's batch: encodeBatch(gatewayId, device, readings) in format 1; from format 2 on
 * encodeBatch(gatewayId, readings, options) takes the device from the readings.
 */
function encode(device: string, readings: StoredReading[]): Buffer {
  const f = encodeBatch as unknown as (...args: unknown[]) => { value: Buffer }
  return (f.length >= 3 ? f(GW, device, readings) : f(GW, readings)).value
}

interface Batch {
  device: number
  round: number
  value: Buffer
  first: number
}

function build(): { batches: Batch[]; total: number } {
  const batches: Batch[] = []
  let seq = 1
  for (let round = 0; round < ROUNDS; round++) {
    for (let d = 0; d < DEVICES; d++) {
      const device = `dev-${d}`
      const readings: StoredReading[] = []
      const first = seq
      for (let i = 0; i < PER_BATCH; i++, seq++) {
        const n = round * PER_BATCH + i
        readings.push({
          seq,
          device,
          topic: `devices/${device}/telemetry`,
          payload: Buffer.from(JSON.stringify({ n, t: 20 + (n % 50) / 10 })),
          recvMs: 1_700_000_000_000 + seq,
          eventMs: null,
          qos: 1
        })
      }
      batches.push({ device: d, round, value: encode(device, readings), first })
    }
  }
  return { batches, total: seq - 1 }
}

test('decode de-duplicates 500,000 readings under a 40 MB heap; beyond the window it prints and counts unverified', async () => {
  const { batches, total } = build()
  const order: Batch[] = []
  let nearDuplicates = 0
  // Device 0's rounds 10-11 arrive after round 12 (another lane, inside the window): new, not duplicates.
  const lateLane = batches.filter(b => b.device === 0 && (b.round === 10 || b.round === 11))
  // Device 2's rounds 5-6 arrive at the very end (far beyond the window): printed, counted unverified.
  const farLane = batches.filter(b => b.device === 2 && (b.round === 5 || b.round === 6))
  const resend: Batch[] = []
  for (const [i, b] of batches.entries()) {
    if (lateLane.includes(b) || farLane.includes(b)) continue
    order.push(b)
    // Every 10th batch is sent again three batches later (a lost Kafka ack): a duplicate inside the window.
    if (i % 10 === 3) resend.push(b)
    else if (resend.length > 0 && i % 10 === 6) {
      const again = resend.shift()!
      order.push(again)
      nearDuplicates += PER_BATCH
    }
    if (b.round === 12 && b.device === DEVICES - 1) order.push(...lateLane)
  }
  order.push(...farLane)
  // The first batch of device 1, re-sent at the very end: its first copy left the window long ago.
  const farDuplicate = batches.find(b => b.device === 1 && b.round === 0)!
  order.push(farDuplicate)

  const dir = mkdtempSync(join(tmpdir(), 'hf-dedupe-'))
  const file = join(dir, 'stream.bin')
  writeFileSync(file, frameStream(order.map(b => b.value)))

  const child = spawn(
    process.execPath,
    ['--max-old-space-size=40', CLI, 'decode', '--dedupe-window', String(WINDOW), file],
    { stdio: ['ignore', 'pipe', 'pipe'] }
  )
  let stderr = ''
  child.stderr.on('data', d => {
    stderr += d
  })
  const printed = new Uint8Array(total + 1)
  let lines = 0
  for await (const line of createInterface({ input: child.stdout })) {
    const r = JSON.parse(line) as { seq: number; eventId: string }
    printed[r.seq]!++
    lines++
  }
  const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
  assert.equal(code, 0, `decode exits 0 within its heap:\n${stderr.slice(-2000)}`)
  const summary = JSON.parse(stderr.trim().split('\n').pop()!).summary
  const far = farLane.length * PER_BATCH
  assert.equal(total, DEVICES * ROUNDS * PER_BATCH)
  assert.deepEqual(summary, {
    batches: order.length,
    readings: lines + nearDuplicates,
    printed: total + PER_BATCH,
    duplicates: nearDuplicates,
    unverified: far + PER_BATCH,
    undecodable: 0
  })
  assert.ok(nearDuplicates > 10_000, 'many re-sends were recognised')
  let missing = 0
  let twice = 0
  for (let s = 1; s <= total; s++) {
    if (printed[s] === 0) missing++
    const expected = s >= farDuplicate.first && s < farDuplicate.first + PER_BATCH ? 2 : 1
    if (printed[s]! > 0 && printed[s] !== expected) twice++
  }
  assert.equal(missing, 0, 'every reading printed, the out-of-order lanes included')
  assert.equal(twice, 0, 'printed once, except the re-send beyond the window (twice)')
})
