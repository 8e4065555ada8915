/**
 * Where the gateway's memory goes. One gateway (no uplink, core 1), rawpub on core 0. JSON lines:
 *  - memory-idle: just started, no device
 *  - memory-connected: --devices connections open, almost no traffic (1 msg/s in all); perConnectionKb
 *  - memory-load (every 5 s) and memory-load-max: --rate QoS 1 msg/s from the same devices
 *  - memory-heap (--heap-snapshot connected|end): a heap snapshot (so after a full GC: the live heap) with
 *    the devices connected and quiet (the load's RSS then is not comparable: the snapshot itself takes memory)
 *    or after the load (connections closed), its self sizes summed by constructor
 * Each sample: RSS, anonymous (heaps, buffers, SQLite's cache) and file-backed (code, mapped files) parts,
 * threads (each worker thread is a V8 isolate of its own) and the V8 heap used (/api/status).
 * --node-flags: the gateway's node flags instead of the systemd unit's (e.g. "--max-semi-space-size=4"; `none`: node's defaults).
 *
 *   node dist/bench/memory.js [--devices 1000] [--rate 5000] [--seconds 30] [--heap-snapshot connected|end]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { emit, gatewayNodeFlags, memory, pacedArgs, sleep, startGateway, startRawpub, status } from './procs.js'

const { values: o } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '30' },
    'heap-snapshot': { type: 'string' },
    'node-flags': { type: 'string', default: '' },
    label: { type: 'string', default: '' }
  }
})
const DEVICES = Number(o.devices)
const nodeFlags = gatewayNodeFlags(o['node-flags'])
const head = { ...(o.label ? { label: o.label } : {}), nodeFlags: nodeFlags.join(' ') }

async function sample(pid: number, http: string): Promise<Record<string, unknown>> {
  const st = await status(http).catch(() => null)
  return {
    ...memory(pid),
    heapUsedMb: st?.process ? Math.round(st.process.heapUsedBytes / 1e5) / 10 : null,
    connections: st?.mqtt?.connections ?? null
  }
}

/** Self sizes of a .heapsnapshot summed by constructor (objects) or by kind (strings, code, arrays...). */
function heapSummary(file: string, top = 15): Array<{ name: string; mb: number; count: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }
    nodes: number[]
    strings: string[]
  }
  const f = snap.snapshot.meta.node_fields
  const types = snap.snapshot.meta.node_types[0]
  const [iType, iName, iSize] = [f.indexOf('type'), f.indexOf('name'), f.indexOf('self_size')]
  const by = new Map<string, { size: number; count: number }>()
  for (let i = 0; i < snap.nodes.length; i += f.length) {
    const type = types[snap.nodes[i + iType]!]!
    const key = type === 'object' || type === 'native' ? snap.strings[snap.nodes[i + iName]!]! : `(${type})`
    const e = by.get(key) ?? { size: 0, count: 0 }
    e.size += snap.nodes[i + iSize]!
    e.count++
    by.set(key, e)
  }
  return [...by.entries()]
    .sort((a, b) => b[1].size - a[1].size)
    .slice(0, top)
    .map(([name, e]) => ({ name, mb: Math.round(e.size / 1e5) / 10, count: e.count }))
}

async function snapshot(pid: number, http: string, cwd: string, at: string): Promise<void> {
  process.kill(pid, 'SIGUSR2')
  await sleep(1000)
  // The snapshot is written synchronously on the broker thread: once it answers again, the file is whole.
  await status(http).catch(() => null)
  const f = readdirSync(cwd).find(n => n.endsWith('.heapsnapshot'))
  const heap = f === undefined ? null : heapSummary(join(cwd, f))
  if (f !== undefined) rmSync(join(cwd, f))
  emit({ scenario: 'memory-heap', ...head, at, selfSizeByConstructor: heap })
}

async function main(): Promise<void> {
  const cwd = mkdtempSync(join(tmpdir(), 'hf-mem-'))
  const gw = await startGateway({
    cpu: 1,
    cwd,
    extra: ['--store-max-bytes', String(8 * 1024 ** 3)],
    nodeFlags: [...nodeFlags, ...(o['heap-snapshot'] !== undefined ? ['--heapsnapshot-signal=SIGUSR2'] : [])]
  })
  try {
    await sleep(3000)
    const idle = await sample(gw.pid, gw.http)
    emit({ scenario: 'memory-idle', ...head, ...idle })

    // Connected but quiet: the cost of the connections themselves.
    const quiet = startRawpub(
      0,
      pacedArgs({ port: gw.mqttPort, conns: DEVICES, rate: 1, warmupS: 0, seconds: 12, connectTimeoutS: 120 })
    )
    for (let i = 0; i < 600; i++) {
      const st = await status(gw.http).catch(() => null)
      if ((st?.mqtt?.connections ?? 0) >= DEVICES) break
      await sleep(200)
    }
    await sleep(5000)
    const connected = await sample(gw.pid, gw.http)
    emit({
      scenario: 'memory-connected',
      ...head,
      devices: DEVICES,
      ...connected,
      perConnectionKb: Math.round((((connected.rssMb as number) - (idle.rssMb as number)) * 1024) / DEVICES)
    })
    if (o['heap-snapshot'] === 'connected') await snapshot(gw.pid, gw.http, cwd, 'connected')
    await quiet.result

    const rss: number[] = []
    const load = startRawpub(
      0,
      pacedArgs({
        port: gw.mqttPort,
        conns: DEVICES,
        rate: o.rate!,
        warmupS: 2,
        seconds: Number(o.seconds),
        intervalS: 5,
        connectTimeoutS: 120
      }),
      line => {
        void sample(gw.pid, gw.http).then(s => {
          rss.push(s.rssMb as number)
          emit({
            scenario: 'memory-load',
            ...head,
            // after a heap snapshot in the same process, whose own memory the RSS still holds
            afterHeapSnapshot: o['heap-snapshot'] === 'connected',
            tS: line.tS,
            ...s,
            acksPerS: line.acksPerS,
            pubackP99Ms: line.p99Ms
          })
        })
      }
    )
    const r = await load.result
    await sleep(500)
    emit({
      scenario: 'memory-load-max',
      ...head,
      afterHeapSnapshot: o['heap-snapshot'] === 'connected',
      devices: DEVICES,
      targetRate: Number(o.rate),
      msgsPerS: r.msgsPerS,
      pubackP99Ms: r.p99Ms,
      rssMbMax: Math.max(...rss),
      ...(await sample(gw.pid, gw.http))
    })
    if (o['heap-snapshot'] === 'end') await snapshot(gw.pid, gw.http, cwd, 'end')
  } finally {
    await gw.stop()
    rmSync(cwd, { recursive: true, force: true })
  }
}

main().catch(err => {
  process.stderr.write(`${(err as Error).stack}\n`)
  process.exit(1)
})
