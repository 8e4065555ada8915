#!/usr/bin/env node
/** The `holdfast` command. Usage errors and bad config print one clear message and exit 2. */
import { isHoldfastError } from '../errors.js'
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
  holdfast reconcile --brokers H:P --topic T | FILE... | -   delivered / dropped / missing per gateway and device (reconcile --help)
  holdfast fleet keygen|sign|push|status [...]   remote configuration for fleet operators (holdfast fleet help)
  holdfast version
  holdfast hash-password < pw.txt        print the scrypt hash of a technician password (status.passwordHash)

settings (flag / environment variable; flags beat environment beats file beats default):
${LEAVES.map(l => `  --${l.flag.padEnd(24)} ${l.env.padEnd(34)} ${l.spec.doc}`).join('\n')}
  --config FILE              HOLDFAST_CONFIG                    JSON config file
`

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv
  switch (cmd) {
    case 'devices':
      return await (await import('./devices.js')).devicesCommand(rest)
    case 'run':
      return await run(parseArgs(rest).flags)
    case 'hash-password':
      return await hashPasswordCommand()
    case 'decode':
      return await decode(rest)
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

main(process.argv.slice(2)).catch((err: unknown) => {
  if (isHoldfastError(err)) {
    process.stderr.write(`holdfast: ${err.code}: ${err.message}\n`)
    process.exit(2)
  }
  process.stderr.write(`holdfast: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exit(1)
})
