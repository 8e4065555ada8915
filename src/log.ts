import { pino, type Logger, type DestinationStream } from 'pino'
import { processLogRing, type LogRing } from './log-ring.js'

export type { Logger }

export interface LogOptions {
  level?: string
  /** Injectable destination so tests can read logs as data. */
  destination?: DestinationStream
  /** Also keep the last lines in memory (status page, diagnostics); default the process's ring, null for none. */
  ring?: LogRing | null
}

export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? 'info'
  const dest = opts.destination ?? pino.destination({ dest: 1, sync: false })
  const ring = opts.ring === undefined ? processLogRing : opts.ring
  return pino(
    {
      name: 'holdfast',
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: label => ({ level: label }) }
    },
    ring === null || level === 'silent'
      ? dest
      : pino.multistream([
          { stream: dest, level: level as pino.Level },
          { stream: ring, level: level as pino.Level }
        ])
  )
}

/**
 * Write out what the logger holds, before a process.exit: pino's own flush(cb) does not reach the
 * streams of a multistream, and the default destination writes asynchronously.
 */
export function flushLogSync(log: Logger): void {
  const stream = (log as unknown as Record<symbol, { flushSync?: () => void } | undefined>)[pino.symbols.streamSym]
  try {
    stream?.flushSync?.()
  } catch {
    // A pipe that takes nothing more: the exit code still tells.
  }
}
