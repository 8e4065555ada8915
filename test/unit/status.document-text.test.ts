import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { documentText, ROWS_PER_SLICE } from '../../src/status/document-text.js'
import { pageDocument, pageHead, pageRow } from '../../src/status/document.js'
import { SharedBuild } from '../../src/status/shared-build.js'
import { statusFixture } from './status-fixture.js'

const DEVICES = 2000

test('a 2,000-device status document is written in slices, byte for byte the JSON of the whole, other work running between slices', async t => {
  const f = await statusFixture(DEVICES)
  t.after(f.close)
  let n = 0
  for (const d of f.counters.devices.values()) d.received = f.counters.received += ++n % 7
  f.lifetime.flush()
  const doc = f.server.statusDocument()

  let turns = 0
  let spinning = true
  const spin = (): void => {
    turns++
    if (spinning) setImmediate(spin)
  }
  setImmediate(spin)
  const pieces = await documentText(doc, null, text => Buffer.from(text))
  spinning = false
  assert.equal(pieces.length, 2 + DEVICES / ROWS_PER_SLICE, 'the head, one piece per slice of rows, the tail')
  assert.ok(turns >= DEVICES / ROWS_PER_SLICE - 1, `the thread ran other callbacks between slices (${turns} turns)`)
  assert.equal(Buffer.concat(pieces).toString(), JSON.stringify(doc), '/api/status: the same bytes as one stringify')

  const page = await documentText(pageHead(doc), pageRow, text => text)
  assert.equal(page.join(''), JSON.stringify(pageDocument(doc)), 'the live feed: the same bytes as before')
})

/** GET /api/status: the body as sent, and its content-length header. */
async function getStatus(url: string): Promise<{ body: Buffer; length: number }> {
  return await new Promise((resolve, reject) => {
    request(`${url}/api/status`, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ body: Buffer.concat(chunks), length: Number(res.headers['content-length']) }))
    })
      .on('error', reject)
      .end()
  })
}

test('/api/status of 2,000 devices while they publish: whole, parseable, and one instant; no caller gets a document older than its request', async t => {
  const f = await statusFixture(DEVICES)
  t.after(f.close)
  const ids = [...f.counters.devices.keys()]
  // Devices "publishing" between any two slices of a build: a device's count and the gateway's move together.
  let publishing = true
  let i = 0
  const publish = (): void => {
    if (!publishing) return
    const d = f.counters.devices.get(ids[i++ % ids.length]!)!
    d.received++
    d.stored++
    f.counters.received++
    f.counters.stored++
    if (i % 5000 === 0) f.lifetime.flush()
    setImmediate(publish)
  }
  setImmediate(publish)
  try {
    for (let round = 0; round < 4; round++) {
      const asked = f.counters.received
      const answers = await Promise.all([getStatus(f.url), getStatus(f.url), getStatus(f.url)])
      for (const a of answers) {
        assert.equal(a.body.length, a.length, 'content-length is the length of the body')
        const doc = JSON.parse(a.body.toString()) as {
          counters: { received: number; stored: number }
          lifetime: { received: number }
          devices: Array<{ id: string; received: number; stored: number; lifetime: { received: number } }>
        }
        assert.deepEqual(
          doc.devices.map(d => d.id),
          ids,
          'every device, once, in order'
        )
        const sum = (k: 'received' | 'stored'): number => doc.devices.reduce((s, d) => s + d[k], 0)
        assert.equal(sum('received'), doc.counters.received, 'devices[].received adds up to counters.received')
        assert.equal(sum('stored'), doc.counters.stored, 'devices[].stored adds up to counters.stored')
        assert.equal(
          doc.devices.reduce((s, d) => s + d.lifetime.received, 0),
          doc.lifetime.received,
          'lifetime: the gateway is the sum of its devices'
        )
        assert.ok(doc.counters.received >= asked, 'captured after the request was made, never before')
      }
    }
    assert.ok(i > 0, 'devices published while documents were built')
  } finally {
    publishing = false
  }
})

test('SharedBuild: callers arriving during a build share the next one, captured after they asked', async () => {
  let value = 0
  let builds = 0
  const shared = new SharedBuild(async () => {
    builds++
    const captured = value
    await new Promise(resolve => setTimeout(resolve, 20))
    return captured
  })
  const first = shared.get()
  value = 1
  const [second, third] = [shared.get(), shared.get()]
  value = 2
  assert.equal(await first, 0)
  assert.equal(await second, 2, 'the next build starts after the first ends, so it has what changed meanwhile')
  assert.equal(await third, 2)
  assert.equal(builds, 2, 'the two late callers shared one build')
  assert.equal(await shared.get(), 2, 'with none running, a build starts at once')
  assert.equal(builds, 3)
})
