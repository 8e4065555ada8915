/**
 * An in-process status server over a real buffer, counters and lifetime totals, with `n` devices:
 * large fleets without a process per device (test/unit/status.*.test.ts, bench/status-cost.ts).
 */
import { loadConfig } from '../../src/config/load.js'
import { Counters } from '../../src/metrics/counters.js'
import { LifetimeTotals } from '../../src/metrics/lifetime.js'
import { startHttp, type StatusServer } from '../../src/status/server.js'
import { memoryLogger, tempBuffer, type TempBuffer } from './setup.js'

export interface StatusFixture {
  tb: TempBuffer
  counters: Counters
  lifetime: LifetimeTotals
  server: StatusServer
  url: string
  close: () => Promise<void>
}

/** A quota object shaped like admission's (src/broker/quota-status.ts), from the device's counters. */
function quotaOf(counters: Counters, tb: TempBuffer, id: string): unknown {
  const u = tb.buffer.usage.usageOf(id)
  const d = counters.devices.get(id)?.dropped ?? {}
  return {
    limits: {
      msgsPerS: 100,
      msgsBurst: 200,
      maxBufferedReadings: 10_000,
      maxBufferedBytes: 0,
      storagePolicy: 'reject'
    },
    usage: {
      bufferedReadings: u.readings,
      bufferedBytes: u.bytes,
      sessions: 1,
      heldPublishes: 0,
      throttledPublishes: 0
    },
    drops: { payload_too_large: d.payload_too_large ?? 0, quota_storage: d.quota_storage ?? 0 }
  }
}

export async function statusFixture(devices: number): Promise<StatusFixture> {
  const tb = tempBuffer()
  const counters = new Counters()
  for (let i = 0; i < devices; i++) counters.device(`device-${String(i).padStart(5, '0')}`)
  const lifetime = new LifetimeTotals(counters, tb.buffer.seqLedger)
  const { config } = loadConfig({ env: {}, document: { dataDir: tb.dir, status: { public: true } } })
  const server = await startHttp({
    host: '127.0.0.1',
    port: 0,
    log: memoryLogger().log,
    config,
    sources: {
      gatewayId: 'local',
      startedMs: Date.now(),
      counters,
      buffer: tb.buffer,
      lifetime,
      quotaOf: id => quotaOf(counters, tb, id),
      uplink: () => ({ state: 'none', since: new Date().toISOString(), lastError: null, drainRate: 0 }) as never,
      mqtt: () => ({ listening: true, connections: devices }),
      config: () => ({ source: 'test', version: null })
    },
    ready: () => ({ ok: true, checks: { mqttListening: true, bufferWritable: true } })
  })
  const port = (server.address() as { port: number }).port
  return {
    tb,
    counters,
    lifetime,
    server,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>(resolve => server.close(() => resolve()))
      tb.dispose()
    }
  }
}
