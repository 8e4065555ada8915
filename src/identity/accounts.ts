/**
 * The accounts that may log in: devices (config `devices` and `<dataDir>/credentials.json`, the
 * file winning so that `holdfast devices rotate` takes effect) and app accounts (config `apps`).
 * The file is polled and reloaded while the gateway runs; listeners hear which ids changed so
 * sessions opened with a removed or rotated secret can be closed.
 */
import { stat, statSync, type Stats } from 'node:fs'
import { dirname } from 'node:path'
import type { Config } from '../config/schema.js'
import { configError, type FieldError } from '../config/load.js'
import type { Logger } from '../log.js'
import { AppAcl } from './acl.js'
import { credentialsPath, readCredentials } from './credentials-file.js'
import { typicalParams } from './dummy-check.js'
import type { ScryptParams } from './secret.js'

const keyOf = (st: Stats | undefined): string => (st === undefined ? 'none' : `${st.ino}:${st.size}:${st.mtimeMs}`)

export type Account =
  | { kind: 'device'; id: string; hash: string | null }
  | { kind: 'app'; id: string; hash: string; acl: AppAcl }

export interface AccountsOptions {
  devices: Config['devices']
  apps: Config['apps']
  dataDir: string
  log: Logger
  reloadMs?: number
}

export class Accounts {
  readonly file: string
  private fileHashes = new Map<string, string>()
  private configHashes = new Map<string, string>()
  private apps = new Map<string, Account & { kind: 'app' }>()
  private fileKey = ''
  private timer: NodeJS.Timeout | undefined
  private params: ScryptParams | null = null
  private readonly log: Logger

  constructor(opts: AccountsOptions) {
    this.log = opts.log
    this.file = credentialsPath(opts.dataDir)
    const errors: FieldError[] = []
    for (const id in opts.devices) {
      const h = opts.devices[id]!.passwordHash
      if (h !== undefined && h !== '') this.configHashes.set(id, h)
    }
    for (const [name, a] of Object.entries(opts.apps)) {
      // One user name space: an app named like a device would make "who is this?" ambiguous.
      if (Object.hasOwn(opts.devices, name))
        errors.push({
          field: `apps.${name}`,
          source: 'config',
          message: `the name is also a device in devices.${name}`
        })
      this.apps.set(name, { kind: 'app', id: name, hash: a.passwordHash, acl: new AppAcl(a.read ?? [], a.write ?? []) })
    }
    if (errors.length > 0) throw configError(errors)
    // A broken file stops the start (exit 2); while running, the last good version is kept.
    // Its identity is taken before reading, so a change made meanwhile is seen by the first poll.
    this.fileKey = keyOf(statSync(this.file, { throwIfNoEntry: false }))
    this.fileHashes = this.hashesOf(readCredentials(this.file))
  }

  /** The account for a user name, or undefined. A device known only by certificate has hash null. */
  lookup(username: string): Account | undefined {
    const app = this.apps.get(username)
    if (app !== undefined) return app
    const hash = this.fileHashes.get(username) ?? this.configHashes.get(username)
    return hash === undefined ? undefined : { kind: 'device', id: username, hash }
  }

  /** What checking a secret typically costs here (dummy-check.ts); recomputed after a change. */
  checkParams(): ScryptParams {
    this.params ??= typicalParams([
      ...this.fileHashes.values(),
      ...this.configHashes.values(),
      ...[...this.apps.values()].map(a => a.hash)
    ])
    return this.params
  }

  isApp(name: string): boolean {
    return this.apps.has(name)
  }

  app(name: string): (Account & { kind: 'app' }) | undefined {
    return this.apps.get(name)
  }

  deviceIds(): string[] {
    return [...new Set([...this.configHashes.keys(), ...this.fileHashes.keys()])].sort()
  }

  /**
   * New `devices` and `apps` from a remote configuration: checked now (throws a config error, nothing
   * changed), taken by calling the returned function, which says whose secret or account changed.
   */
  reconfigure(devices: Config['devices'], apps: Config['apps']): () => { devices: string[]; apps: string[] } {
    const next = new Accounts({ devices, apps, dataDir: dirname(this.file), log: this.log })
    return () => {
      const appKey = (a: (Account & { kind: 'app' }) | undefined): string =>
        a === undefined ? '' : JSON.stringify([a.hash, a.acl])
      const changedApps = [...new Set([...this.apps.keys(), ...next.apps.keys()])].filter(
        n => appKey(this.apps.get(n)) !== appKey(next.apps.get(n))
      )
      // One pass over each list (a remote document may list thousands of devices): a device whose
      // secret the credentials file gives did not change here; the others changed when their hash did.
      const changedDevices: string[] = []
      const was = this.configHashes
      const now = next.configHashes
      for (const [id, hash] of was) if (!this.fileHashes.has(id) && now.get(id) !== hash) changedDevices.push(id)
      for (const id of now.keys()) if (!this.fileHashes.has(id) && !was.has(id)) changedDevices.push(id)
      this.configHashes = now
      this.apps = next.apps
      this.params = null
      return { devices: changedDevices, apps: changedApps }
    }
  }

  /** Poll the credentials file; `onChange` gets the device ids whose secret was added, rotated or removed. */
  watch(onChange: (ids: string[]) => void, everyMs = 1000): void {
    this.timer = setInterval(() => {
      stat(this.file, (_err, st) => {
        const key = keyOf(st)
        if (key === this.fileKey) return
        this.fileKey = key
        let next: Map<string, string>
        try {
          next = this.hashesOf(readCredentials(this.file))
        } catch (err) {
          this.log.error(
            { code: 'HF_ERR_CREDENTIALS_FILE', file: this.file, err: (err as Error).message },
            'credentials file not reloaded; keeping the last good one'
          )
          return
        }
        const changed = [...new Set([...next.keys(), ...this.fileHashes.keys()])].filter(
          id => next.get(id) !== this.fileHashes.get(id)
        )
        this.fileHashes = next
        this.params = null
        if (changed.length > 0) {
          this.log.info({ file: this.file, changed: changed.length, devices: next.size }, 'device credentials reloaded')
          onChange(changed)
        }
      })
    }, everyMs)
    this.timer.unref()
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
  }

  private hashesOf(doc: ReturnType<typeof readCredentials>): Map<string, string> {
    const m = new Map<string, string>()
    for (const [id, e] of Object.entries(doc.devices)) {
      if (this.apps.has(id))
        this.log.warn(
          { code: 'HF_ERR_CREDENTIALS_FILE', device: id },
          'credentials.json entry ignored: the name is an app account'
        )
      else m.set(id, e.hash)
    }
    return m
  }
}
