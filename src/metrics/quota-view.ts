/** Reading the per-device quota object (`quotaOf`, src/broker/quota-status.ts) for display. */
export interface QuotaShape {
  limits?: { maxBufferedReadings?: number; maxBufferedBytes?: number }
  usage?: { bufferedReadings?: number; bufferedBytes?: number; throttledPublishes?: number; heldPublishes?: number }
}

/** Share of a device's storage quota in use (the larger of readings and bytes); null without a cap. */
export function quotaShare(quota: unknown): number | null {
  if (quota === null || typeof quota !== 'object') return null
  const { limits = {}, usage = {} } = quota as QuotaShape
  const shares: number[] = []
  if ((limits.maxBufferedReadings ?? 0) > 0) shares.push((usage.bufferedReadings ?? 0) / limits.maxBufferedReadings!)
  if ((limits.maxBufferedBytes ?? 0) > 0) shares.push((usage.bufferedBytes ?? 0) / limits.maxBufferedBytes!)
  return shares.length === 0 ? null : Math.round(Math.max(...shares) * 1000) / 1000
}

export function quotaUsage(quota: unknown): { throttled: number; held: number } {
  const u = (quota as QuotaShape | null | undefined)?.usage
  return { throttled: u?.throttledPublishes ?? 0, held: u?.heldPublishes ?? 0 }
}
