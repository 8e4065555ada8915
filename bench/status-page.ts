/**
 * Status page weight: bytes on the wire for the page's first load (HTML, stylesheet, scripts, as
 * a browser asks for them: `accept-encoding: gzip, deflate, br`) and for its live feed
 * (/api/events, gzip) with a fleet of simulated devices connected and publishing.
 * Prints JSON lines on stdout: {"bench":"status-first-load",...} and {"bench":"status-live-feed",...}.
 *
 *   node dist/bench/status-page.js [--devices 1000] [--seconds 15]
 */
import { request } from 'node:http'
import { parseArgs } from 'node:util'
import { GatewayProcess } from '../test/harness/gateway.js'
import { startSim } from '../test/harness/sim.js'
import { SCRIPTS } from '../src/status/routes/page.js'

const { values: o } = parseArgs({
  options: { devices: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '15' } }
})
const emit = (line: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify(line) + '\n')
}
const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** Bytes of the body as sent (not decompressed), and its encoding. */
async function wire(url: string, accept = 'gzip, deflate, br'): Promise<{ bytes: number; encoding: string }> {
  return await new Promise((resolve, reject) => {
    request(url, { headers: { 'accept-encoding': accept } }, res => {
      let bytes = 0
      res.on('data', (c: Buffer) => {
        bytes += c.length
      })
      res.on('end', () => resolve({ bytes, encoding: String(res.headers['content-encoding'] ?? 'identity') }))
    })
      .on('error', reject)
      .end()
  })
}

/** Bytes per second of the live feed on the wire, over `seconds` after the first event. */
async function feed(url: string, seconds: number): Promise<{ bytesPerS: number; events: number; firstBytes: number }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { headers: { 'accept-encoding': 'gzip', accept: 'text/event-stream' } }, res => {
      let total = 0
      let firstBytes = 0
      let started = 0
      let chunks = 0
      res.on('data', (c: Buffer) => {
        if (started === 0) {
          started = Date.now()
          firstBytes = c.length
          return
        }
        total += c.length
        chunks++
      })
      setTimeout(
        () => {
          const s = (Date.now() - started) / 1000
          req.destroy()
          resolve({ bytesPerS: Math.round(total / s), events: chunks, firstBytes })
        },
        seconds * 1000 + 500
      )
    })
    req.on('error', err => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err)
    })
    req.end()
  })
}

async function main(): Promise<void> {
  const devices = Number(o.devices)
  const seconds = Number(o.seconds)
  const gw = await GatewayProcess.start({ statusPublic: true })
  const sim = startSim([
    '--url',
    gw.url,
    '--devices',
    String(devices),
    '--rate',
    '0.5',
    '--duration',
    String(seconds + 60)
  ])
  try {
    const paths = ['/', '/assets/app.css', ...SCRIPTS.map(n => `/assets/${n}.js`)]
    const loads = await Promise.all(paths.map(async p => ({ path: p, ...(await wire(gw.http + p)) })))
    const gzipped = await Promise.all(paths.map(async p => await wire(gw.http + p, 'gzip')))
    const plain = await Promise.all(paths.map(async p => await wire(gw.http + p, 'identity')))
    emit({
      bench: 'status-first-load',
      compressedBytes: loads.reduce((s, l) => s + l.bytes, 0),
      gzipBytes: gzipped.reduce((s, l) => s + l.bytes, 0),
      uncompressedBytes: plain.reduce((s, l) => s + l.bytes, 0),
      files: loads.map(l => `${l.path} ${l.bytes} ${l.encoding}`)
    })
    // Wait until the fleet is connected, then measure the feed.
    let connected = 0
    for (let i = 0; i < 60 && connected < devices; i++) {
      const s = (await (await fetch(gw.http + '/api/status')).json()) as { devices: Array<{ connected: boolean }> }
      connected = s.devices.filter(d => d.connected).length
      if (connected < devices) await sleep(1000)
    }
    const f = await feed(gw.http + '/api/events', seconds)
    emit({
      bench: 'status-live-feed',
      devices,
      connected,
      seconds,
      ...f,
      kbPerS: Math.round(f.bytesPerS / 102.4) / 10
    })
  } finally {
    sim.child.kill('SIGTERM')
    await sim.result.catch(() => {})
    await gw.stop()
  }
}

main().catch(err => {
  process.stderr.write(`${String(err)}\n`)
  process.exit(1)
})
