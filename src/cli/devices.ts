/**
 * `holdfast devices add|remove|list|rotate`: device secrets in `<dataDir>/credentials.json`, as
 * scrypt hashes only. A running gateway re-reads the file within about a second; rotating or removing
 * a secret also closes the sessions that logged in with it. Secrets come from standard input
 * (`--password-stdin`, first line) or are generated and printed once on stdout, never from argv.
 */
import { HoldfastError } from '../errors.js'
import { loadConfig } from '../config/load.js'
import { isValidDeviceId } from '../codec/reading.js'
import { credentialsPath, readCredentials, updateCredentials } from '../identity/credentials-file.js'
import { hashSecret, randomSecret } from '../identity/secret.js'
import { parseArgs } from './args.js'
import { readFirstLine } from './stdin.js'

export const DEVICES_USAGE = `  holdfast devices add ID [--password-stdin] [--data-dir DIR]   provision a device (prints a new secret unless --password-stdin)
  holdfast devices rotate ID [--password-stdin]                  replace its secret (its open sessions are closed)
  holdfast devices remove ID                                     delete its secret (its open sessions are closed)
  holdfast devices list [--json]                                 devices with a secret (file and config)`

const usage = (msg: string): HoldfastError => new HoldfastError('HF_ERR_USAGE', `${msg}\nusage:\n${DEVICES_USAGE}`)

async function readSecret(): Promise<string> {
  const secret = await readFirstLine('device secret (then Enter): ')
  if (secret.length < 8)
    throw new HoldfastError('HF_ERR_USAGE', 'the secret must have at least 8 characters (read from standard input)')
  if (secret.length > 1024) throw new HoldfastError('HF_ERR_USAGE', 'the secret must have at most 1024 characters')
  return secret
}

export async function devicesCommand(argv: string[]): Promise<void> {
  const { positionals, flags } = parseArgs(argv, ['password-stdin', 'json'])
  const fromStdin = flags['password-stdin'] === true
  const json = flags.json === true
  delete flags['password-stdin']
  delete flags.json
  const [action, id, ...extra] = positionals
  if (extra.length > 0) throw usage(`unexpected arguments: ${extra.join(' ')}`)
  // --data-dir, --config and HOLDFAST_* resolve the data folder exactly as `holdfast run` does.
  const { config } = loadConfig({ flags })
  const file = credentialsPath(config.dataDir)
  const now = new Date().toISOString()

  const needId = (): string => {
    if (id === undefined) throw usage(`devices ${action ?? ''}: which device?`)
    if (!isValidDeviceId(id))
      throw usage(`"${id}" is not a device id (1-128 of A-Z a-z 0-9 . _ : -, starting alphanumeric)`)
    if (Object.hasOwn(config.apps, id)) throw usage(`"${id}" is an app account (apps.${id} in the config)`)
    return id
  }
  const newSecret = async (): Promise<{ secret: string; generated: boolean }> =>
    fromStdin ? { secret: await readSecret(), generated: false } : { secret: randomSecret(), generated: true }

  switch (action) {
    case 'add':
    case 'rotate': {
      const dev = needId()
      const { secret, generated } = await newSecret()
      const hash = await hashSecret(secret)
      await updateCredentials(file, doc => {
        const had = doc.devices[dev]
        if (action === 'add' && had !== undefined)
          throw usage(`device ${dev} already has a secret; use "holdfast devices rotate ${dev}"`)
        if (action === 'rotate' && had === undefined)
          throw usage(`device ${dev} has no secret in ${file}; use "holdfast devices add ${dev}"`)
        doc.devices[dev] = { hash, created: had?.created ?? now, updated: now }
      })
      if (generated) process.stdout.write(secret + '\n')
      process.stderr.write(
        `holdfast: device ${dev} ${action === 'add' ? 'added' : 'rotated'} in ${file}; a running gateway picks it up within a few seconds\n`
      )
      return
    }
    case 'remove': {
      const dev = needId()
      await updateCredentials(file, doc => {
        if (doc.devices[dev] === undefined) throw usage(`device ${dev} has no secret in ${file}`)
        delete doc.devices[dev]
      })
      process.stderr.write(`holdfast: device ${dev} removed from ${file}\n`)
      return
    }
    case 'list': {
      if (id !== undefined) throw usage(`unexpected argument: ${id}`)
      const doc = readCredentials(file)
      const rows = [
        ...Object.entries(doc.devices).map(([d, e]) => ({
          id: d,
          source: 'credentials.json',
          created: e.created,
          updated: e.updated
        })),
        ...Object.entries(config.devices)
          .filter(([d, c]) => doc.devices[d] === undefined && (c.passwordHash ?? '') !== '')
          .map(([d]) => ({ id: d, source: 'config', created: null, updated: null }))
      ].sort((a, b) => (a.id < b.id ? -1 : 1))
      if (json) process.stdout.write(JSON.stringify(rows) + '\n')
      else for (const r of rows) process.stdout.write(`${r.id}\t${r.source}\t${r.updated ?? ''}\n`)
      return
    }
    default:
      throw usage(action === undefined ? 'devices: which action?' : `devices: unknown action "${action}"`)
  }
}
