import { test } from 'node:test'
import assert from 'node:assert/strict'
import { type ClientRequest, request } from 'node:http'
import { connect } from 'node:net'
import { GatewayProcess } from './harness/gateway.js'

test('a client trickling its request headers is closed after a bounded time; others are served meanwhile', async () => {
  const gw = await GatewayProcess.start()
  try {
    const socket = connect({ host: '127.0.0.1', port: gw.httpPort })
    socket.on('error', () => {})
    let answer = ''
    socket.on('data', d => {
      answer += d
    })
    await new Promise<void>(resolve => socket.once('connect', () => resolve()))
    const t0 = Date.now()
    const closed = new Promise<number>(resolve => socket.once('close', () => resolve(Date.now() - t0)))
    socket.write('GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n')
    // One header line a second, never the blank line that ends them: a slowloris.
    const drip = setInterval(() => socket.write(`x-drip-${Date.now()}: 1\r\n`), 1000)
    try {
      const ms = await Promise.race([closed, new Promise<number>(resolve => setTimeout(() => resolve(-1), 25_000))])
      assert.notEqual(ms, -1, 'the trickling connection was still open after 25 s')
      assert.match(answer, /^(HTTP\/1\.1 408|$)/, 'closed with 408 Request Timeout or nothing, never a 200')
      assert.equal((await fetch(`${gw.http}/healthz`)).status, 200, 'the server still answers others')
    } finally {
      clearInterval(drip)
      socket.destroy()
    }
  } finally {
    await gw.stop()
  }
})

/** Open a live stream from a chosen loopback address; resolves with its status (the request is kept open). */
async function openStream(gw: GatewayProcess, from: string, open: ClientRequest[]): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: gw.httpPort, path: '/api/events', localAddress: from }, res => {
      res.resume()
      resolve(res.statusCode!)
    })
    req.on('error', reject)
    req.end()
    open.push(req)
  })
}

test('live-event streams are capped per address: one host opening many cannot take the live page from another', async () => {
  const gw = await GatewayProcess.start()
  const open: ClientRequest[] = []
  try {
    const hog: number[] = []
    for (let i = 0; i < 40; i++) hog.push(await openStream(gw, '127.0.0.1', open))
    assert.equal(hog.filter(s => s === 200).length, 4, `one address gets 4 streams: ${hog.join(' ')}`)
    assert.ok(
      hog.slice(4).every(s => s === 503),
      'the rest are refused with 503'
    )
    assert.equal(await openStream(gw, '127.0.0.2', open), 200, 'a technician on another host still gets the live page')
    // A closed stream frees its place for its address.
    open[0]!.destroy()
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.equal(await openStream(gw, '127.0.0.1', open), 200)
  } finally {
    for (const r of open) r.destroy()
    await gw.stop()
  }
})
