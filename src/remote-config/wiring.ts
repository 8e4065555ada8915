/** How the composition root (src/main.ts) hands the running parts to remote configuration. */
import type { Config } from '../config/schema.js'
import { processSecrets } from '../config/secrets.js'
import type { Counters } from '../metrics/counters.js'
import type { Aggregation } from '../aggregate/setup.js'
import type { Forwarder } from '../forward/forwarder.js'
import type { Uplinker } from '../forward/producer.js'
import type { StatusDocument } from '../status/document.js'
import { differs } from './apply.js'
import type { RunningParts } from './controller.js'
import { heartbeatBuilder } from './heartbeat.js'
import type { ConfigHolder } from './holder.js'

export interface GatewayParts {
  holder: ConfigHolder
  counters: Counters
  /** The status page's document: the heartbeat is built from it. */
  document: () => StatusDocument
  admission: { reconfigure: (next: Readonly<Config>) => () => void }
  /** Rollup rules, priority classes, uplink budget, retention, compaction threshold. */
  aggregation: Pick<Aggregation, 'reconfigure' | 'classes' | 'budget'>
  forwarder: Pick<Forwarder, 'reconfigure' | 'testUplink'>
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
        const swapAggregation = p.aggregation.reconfigure(next)
        const link = differs(prev, next, 'kafka') ? p.newLink(next.kafka) : undefined
        const lanes = differs(prev, next, 'priority') || differs(prev, next, 'budget')
        return () => {
          swapAggregation()
          swapAdmission()
          p.forwarder.reconfigure({
            link,
            batch: next.batch,
            uplink: next.uplink,
            ...(lanes ? { classes: p.aggregation.classes, budget: p.aggregation.budget } : {})
          })
        }
      }
    },
    testUplink: async () => await p.forwarder.testUplink(),
    heartbeat: heartbeatBuilder({
      counters: p.counters,
      document: p.document,
      config: () => p.holder.current
    })
  }
}
