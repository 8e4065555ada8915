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
  private readonly byDevice = new Map<string, Readonly<DeviceLimits>>()

  constructor(config: Pick<Config, 'quota' | 'devices' | 'mqtt'>) {
    const resolve = (q: QuotaConfig, policy: StoragePolicy): Readonly<DeviceLimits> =>
      Object.freeze({
        ...q,
        storagePolicy: policy,
        payloadLimit:
          q.maxPayloadBytes > 0 ? Math.min(q.maxPayloadBytes, config.mqtt.maxPayloadBytes) : config.mqtt.maxPayloadBytes
      })
    const { storagePolicy, ...base } = config.quota
    this.defaults = resolve(base, storagePolicy)
    for (const [id, d] of Object.entries(config.devices)) {
      this.byDevice.set(id, resolve({ ...base, ...d.quota }, d.storagePolicy ?? storagePolicy))
    }
  }

  of(device: string): Readonly<DeviceLimits> {
    return this.byDevice.get(device) ?? this.defaults
  }

  /** True when any device could hold a storage quota (skips the per-reading check otherwise). */
  hasStorageQuotas(): boolean {
    if (this.defaults.maxBufferedBytes > 0 || this.defaults.maxBufferedReadings > 0) return true
    for (const l of this.byDevice.values()) if (l.maxBufferedBytes > 0 || l.maxBufferedReadings > 0) return true
    return false
  }
}
