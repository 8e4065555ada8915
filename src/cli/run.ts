/** `holdfast run`: load config, start the gateway, stop it cleanly on SIGTERM/SIGINT. */
import { loadConfig } from '../config/load.js'
import { createLogger, flushLogSync } from '../log.js'
import { startGateway } from '../main.js'

export async function run(flags: Record<string, string | true>): Promise<void> {
  const { config, file } = loadConfig({ flags })
  const log = createLogger({ level: config.logLevel })
  const gw = await startGateway({
    config,
    log,
    configSource: file ?? 'defaults+env+flags',
    flags,
    // EX_TEMPFAIL: systemd (Restart=on-failure) and container runtimes start it again; nothing is closed
    // on the way out, so the buffer is recovered from the disk as after a power cut.
    onFatal: () => {
      flushLogSync(log)
      process.exit(75)
    }
  })
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    const force = setTimeout(() => process.exit(1), 15_000)
    force.unref()
    gw.close().then(
      () => {
        flushLogSync(log)
        process.exit(0)
      },
      err => {
        log.error({ err }, 'shutdown failed')
        process.exit(1)
      }
    )
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}
