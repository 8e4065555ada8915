#!/usr/bin/env node
/** The `holdfast` command. Usage errors and bad config print one clear message and exit 2. */
import { HoldfastError, isHoldfastError } from '../errors.js'
import { LEAVES } from '../config/load.js'
import { VERSION } from '../version.js'
import { parseArgs } from './args.js'
import { run } from './run.js'
import { decode } from './decode.js'
import { hashPasswordCommand } from './hash-password.js'

const USAGE = `holdfast ${VERSION} — IoT edge gateway

usage:
  holdfast run [--config FILE] [flags]   start the gateway
  holdfast devices add|rotate ID [--password-stdin] [--data-dir DIR]   set a device secret (printed if generated)
  holdfast devices remove ID | list [--json]                          in <dataDir>/credentials.json; a running gateway reloads it
  holdfast decode --brokers H:P --topic T [opts] | FILE... | -   batches → one JSON line per reading (decode --help)
  holdfast expand --brokers H:P [--topic T] [opts]   batch topic → one record per reading on a topic, exactly once (expand --help)
  holdfast reconcile --brokers H:P --topic T | FILE... | -   delivered / dropped / missing per gateway and device (reconcile --help)
  holdfast fleet keygen|sign|push|status|history [...]   remote configuration for fleet operators (holdfast fleet help)
  holdfast version
  holdfast hash-password < pw.txt        print the scrypt hash of a technician password (status.passwordHash)

settings (flag / environment variable; flags beat environment beats file beats default):
${LEAVES.map(l => `  --${l.flag.padEnd(24)} ${l.env.padEnd(34)} ${l.spec.doc}`).join('\n')}
  --config FILE              HOLDFAST_CONFIG                    JSON config file
`

/** `holdfast CMD --help` for the commands whose own parser would read --help as a flag wanting a value. */
async function helpOf(cmd: string | undefined): Promise<string | null> {
  switch (cmd) {
    case 'run':
      return USAGE
    case 'devices':
      return `usage:\n${(await import('./devices.js')).DEVICES_USAGE}\n`
    case 'fleet':
      return `usage:\n${(await import('./fleet.js')).FLEET_USAGE}\n`
    case 'hash-password':
      return 'usage:\n  holdfast hash-password < pw.txt   print the scrypt hash of a technician password (status.passwordHash)\n'
    default:
      return null
  }
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv
  if (rest.includes('--help') || rest.includes('-h')) {
    const help = await helpOf(cmd)
    if (help !== null) {
      process.stdout.write(help)
      return
    }
  }
  switch (cmd) {
    case 'devices':
      return await (await import('./devices.js')).devicesCommand(rest)
    case 'run': {
      const { positionals, flags } = parseArgs(rest)
      // A stray word is a mistyped flag or a value that lost its flag: never start without it.
      if (positionals.length > 0)
        throw new HoldfastError('HF_ERR_USAGE', `holdfast run takes no arguments, only flags (got "${positionals[0]}")`)
      return await run(flags)
    }
    case 'hash-password':
      return await hashPasswordCommand()
    case 'decode':
      return await decode(rest)
    case 'expand':
      return await (await import('./expand.js')).expand(rest)
    case 'reconcile':
      return await (await import('./reconcile.js')).reconcile(rest)
    case 'fleet':
      return await (await import('./fleet.js')).fleetCommand(rest)
    case 'version':
    case '--version':
      process.stdout.write(VERSION + '\n')
      return
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE)
      return
    default:
      process.stderr.write(`holdfast: unknown command "${cmd}"\n\n${USAGE}`)
      process.exit(2)
  }
}

// Output piped into `head` and the like: a closed pipe ends the command quietly, not with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})

const TRANSIENT = new Set(['HF_ERR_STORE_BUSY', 'HF_ERR_DATA_DIR_IN_USE'])

main(process.argv.slice(2)).catch((err: unknown) => {
  if (isHoldfastError(err)) {
    process.stderr.write(`holdfast: ${err.code}: ${err.message}\n`)
    // A buffer or data directory held by another process may be free in a moment: exit 75 (EX_TEMPFAIL) so
    // systemd tries again; every other coded error is a configuration problem that a restart cannot fix.
    process.exit(TRANSIENT.has(err.code) ? 75 : 2)
  }
  process.stderr.write(`holdfast: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exit(1)
})
