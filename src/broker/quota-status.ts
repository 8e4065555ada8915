/** The per-device `quota` object of /api/status and /metrics: limits, usage, drops. */
import type { AdmissionContext } from './context.js'

export function quotaStatus(ctx: AdmissionContext, id: string) {
  const l = ctx.book().of(id)
  const rt = ctx.sessions.runtime(id)
  const u = ctx.buffer.usage.usageOf(id)
  const d = ctx.counters.devices.get(id)?.dropped ?? {}
  return {
    limits: {
      msgsPerS: l.msgsPerS,
      msgsBurst: l.msgsBurst,
      bytesPerS: l.bytesPerS,
      bytesBurst: l.bytesBurst,
      maxPayloadBytes: l.payloadLimit,
      maxBufferedReadings: l.maxBufferedReadings,
      maxBufferedBytes: l.maxBufferedBytes,
      maxSessions: l.maxSessions,
      subscribeFiltersPerS: l.subscribeFiltersPerS,
      subscribeFiltersBurst: l.subscribeFiltersBurst,
      storagePolicy: l.storagePolicy
    },
    usage: {
      bufferedReadings: u.readings,
      bufferedBytes: u.bytes,
      sessions: rt?.sessions.size ?? 0,
      heldPublishes: rt?.throttle.held ?? 0,
      throttledPublishes: rt?.throttle.throttled ?? 0,
      heldSubscribePackets: rt?.filterRate.held ?? 0
    },
    drops: {
      payload_too_large: d.payload_too_large ?? 0,
      quota_storage: d.quota_storage ?? 0,
      quota_drop_oldest: d.quota_drop_oldest ?? 0,
      disk_budget: d.disk_budget ?? 0,
      disk_drop_oldest: d.disk_drop_oldest ?? 0,
      retained_limit: d.retained_limit ?? 0
    }
  }
}
