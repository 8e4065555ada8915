/** How the composition root (src/main.ts) hands the running parts to remote configuration. */
import type { Config } from '../config/schema.js'
import { processSecrets } from '../config/secrets.js'
import type { Counters } from '../metrics/counters.js'
import type { Uplinker } from '../forward/producer.js'
import type { UplinkView } from '../forward/uplink.js'
import type { ReadingBuffer } from '../store/buffer.js'
import { differs } from './apply.js'
import type { RunningParts } from './controller.js'
import { heartbeatBuilder } from './heartbeat.js'
import type { ConfigHolder } from './holder.js'

export interface GatewayParts {
  holder: ConfigHolder
  startedMs: number
  counters: Counters
  buffer: ReadingBuffer
  admission: { reconfigure: (next: Readonly<Config>) => () => void }
  forwarder: {
    reconfigure: (next: { link?: Uplinker; batch: Config['batch']; uplink: Config['uplink'] }) => void
    testUplink: () => Promise<{ ok: boolean; error?: string }>
    view: () => UplinkView
  }
  mqtt: () => { listening: boolean; connections: number }
  /** A Kafka link for the forwarder (createUplinker, wrapped so that closing it lets requests in flight finish). */
  newLink: (k: Config['kafka']) => Uplinker
}

export function runningParts(p: GatewayParts): RunningParts {
  return {
    holder: p.holder,
    parts: {
      prepare: (next, prev) => {
        // Its secrets are scrubbed from the page, the log view and diagnostics from now on.
        processSecrets.remember(next)
        const swapAdmission = p.admission.reconfigure(next)
        const link = differs(prev, next, 'kafka') ? p.newLink(next.kafka) : undefined
        return () => {
          swapAdmission()
          p.forwarder.reconfigure({ link, batch: next.batch, uplink: next.uplink })
        }
      }
    },
    testUplink: async () => await p.forwarder.testUplink(),
    heartbeat: heartbeatBuilder({
      startedMs: p.startedMs,
      counters: p.counters,
      buffer: p.buffer,
      uplink: () => p.forwarder.view(),
      mqtt: p.mqtt,
      config: () => p.holder.current
    })
  }
}
