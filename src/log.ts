import { pino, type Logger, type DestinationStream } from 'pino'

export type { Logger }

export interface LogOptions {
  level?: string
  /** Injectable destination so tests can read logs as data. */
  destination?: DestinationStream
}

export function createLogger (opts: LogOptions = {}): Logger {
  return pino({
    name: 'holdfast',
    level: opts.level ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) }
  }, opts.destination ?? pino.destination({ dest: 1, sync: false }))
}
