/**
 * Each device's limits: the `quota` defaults with its `devices.<id>` overrides, resolved once.
 * Devices without an entry share one frozen defaults object, so a stream of unknown device ids
 * (anonymous development traffic) allocates nothing here.
 */
import type { Config, QuotaConfig, StoragePolicy } from '../config/schema.js'

export interface DeviceLimits extends QuotaConfig {
  storagePolicy: StoragePolicy
  /** maxPayloadBytes resolved: never above mqtt.maxPayloadBytes. */
  payloadLimit: number
}

export class QuotaBook {
  readonly defaults: Readonly<DeviceLimits>
  /** Limits resolved so far: a device's are resolved the first time they are asked for. */
  private readonly byDevice = new Map<string, Readonly<DeviceLimits>>()
  private readonly resolve: (q: QuotaConfig, policy: StoragePolicy) => Readonly<DeviceLimits>
  private readonly storageQuotas: boolean

  /**
   * Cheap for long device lists (a remote document may list thousands, taken on the broker's thread):
   * nothing is resolved here, and devices without their own quota or policy share `defaults`.
   */
  constructor(private readonly config: Pick<Config, 'quota' | 'devices' | 'mqtt'>) {
    this.resolve = (q, policy) =>
      Object.freeze({
        ...q,
        storagePolicy: policy,
        payloadLimit:
          q.maxPayloadBytes > 0 ? Math.min(q.maxPayloadBytes, config.mqtt.maxPayloadBytes) : config.mqtt.maxPayloadBytes
      })
    const { storagePolicy, ...base } = config.quota
    this.defaults = this.resolve(base, storagePolicy)
    let storageQuotas = this.defaults.maxBufferedBytes > 0 || this.defaults.maxBufferedReadings > 0
    if (!storageQuotas)
      for (const id in config.devices) {
        const q = config.devices[id]!.quota
        if (q !== undefined && ((q.maxBufferedBytes ?? 0) > 0 || (q.maxBufferedReadings ?? 0) > 0)) {
          storageQuotas = true
          break
        }
      }
    this.storageQuotas = storageQuotas
  }

  of(device: string): Readonly<DeviceLimits> {
    const hit = this.byDevice.get(device)
    if (hit !== undefined) return hit
    const d = Object.hasOwn(this.config.devices, device) ? this.config.devices[device] : undefined
    if (d === undefined) return this.defaults
    const { storagePolicy, ...base } = this.config.quota
    const l =
      d.quota === undefined && d.storagePolicy === undefined
        ? this.defaults
        : this.resolve({ ...base, ...d.quota }, d.storagePolicy ?? storagePolicy)
    this.byDevice.set(device, l)
    return l
  }

  /** True when any device could hold a storage quota (skips the per-reading check otherwise). */
  hasStorageQuotas(): boolean {
    return this.storageQuotas
  }
}
