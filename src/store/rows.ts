/** The readings table's columns as the buffer reads them, and a row turned into a StoredReading. */
import type { DeviceIds } from './devices.js'
import type { StoredReading } from './reading.js'
import type { ReceiveTimes } from './receive-times.js'

/** Read with raw(): rows as arrays, a third cheaper to read than objects on the drain path. */
export const COLS = 'seq, device, topic, payload, recv_ms, event_ms, qos, cls, kind, props'
/** seq, device, topic, payload, recv_ms, event_ms, qos, cls, kind, props */
export type RawRow = [number, number, string, Buffer, number, number | null, number, number, number, Buffer | null]
/** Rows of every lane but the bulk one (priority 0, raw): what the partial index `readings_lanes` holds. */
export const LANE = '(cls > 0 OR kind > 0)'

export type ToReading = (r: RawRow) => StoredReading

export function rowReader(devices: Pick<DeviceIds, 'nameOf'>, times: Pick<ReceiveTimes, 'corrected'>): ToReading {
  return r => ({
    seq: r[0],
    device: devices.nameOf(r[1]),
    topic: r[2],
    payload: r[3],
    recvMs: times.corrected(r[0], r[4]),
    eventMs: r[5],
    qos: r[6],
    cls: r[7],
    kind: r[8],
    props: r[9]
  })
}
