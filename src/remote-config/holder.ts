/**
 * The configuration in force, for the parts that read it on demand rather than being told of a
 * change (the status page's budget figures, the diagnostics bundle), and where it came from.
 */
import type { Config } from '../config/schema.js'

export interface ConfigInfo {
  source: string
  version: number | null
}

export class ConfigHolder {
  constructor(
    public current: Readonly<Config>,
    private info: ConfigInfo
  ) {}

  set(config: Readonly<Config>, info: ConfigInfo): void {
    this.current = config
    this.info = info
  }

  describe(): ConfigInfo {
    return { ...this.info }
  }

  /**
   * A Config-shaped view that always reads the current configuration: `view.store.maxBytes` is the
   * value in force now. Enumerable like a plain object, so JSON.stringify (diagnostics) works.
   */
  view(): Readonly<Config> {
    const get = (): Record<string, unknown> => this.current as unknown as Record<string, unknown>
    return new Proxy(
      {},
      {
        get: (_t, k) => get()[k as string],
        has: (_t, k) => k in get(),
        ownKeys: () => Reflect.ownKeys(get()),
        getOwnPropertyDescriptor: (_t, k) => {
          const d = Reflect.getOwnPropertyDescriptor(get(), k)
          return d === undefined ? undefined : { ...d, configurable: true, writable: false }
        },
        set: () => false,
        defineProperty: () => false,
        deleteProperty: () => false
      }
    ) as Readonly<Config>
  }
}
