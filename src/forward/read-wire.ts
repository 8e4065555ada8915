/**
 * What crosses between the broker thread and the read worker. A lane's read goes back as transferred
 * buffers: the release parts' arrays as they are, the messages' values in one buffer (no copy).
 */
import type { BatchMessage } from '../codec/types.js'
import type { RunPart } from '../store/run-reads.js'
import type { LaneRead, LaneSpec } from './lane-read.js'

export type ReadRequest =
  | { type: 'read'; id: number; spec: LaneSpec }
  /** GZIP a produce request's records (gzip-codec.ts). */
  | { type: 'gzip'; id: number; raw: Uint8Array }
  | { type: 'close' }

export interface ReadAnswer {
  id: number
  error?: string
  backlog?: RunPart
  live?: RunPart | null
  keys?: string[]
  headers?: Array<Record<string, string>>
  lengths?: Uint32Array
  values?: ArrayBuffer
  gz?: Uint8Array
  /** The GZIP request's input, handed back so that the broker thread's collections free it. */
  raw?: Uint8Array
}

const buffersOf = (p: RunPart): ArrayBuffer[] => [
  p.seqs.buffer as ArrayBuffer,
  p.devs.buffer as ArrayBuffer,
  p.bytes.buffer as ArrayBuffer,
  p.resend.buffer as ArrayBuffer
]

export function packRead(id: number, r: LaneRead): { answer: ReadAnswer; transfer: ArrayBuffer[] } {
  const lengths = new Uint32Array(r.messages.length)
  let total = 0
  for (let i = 0; i < r.messages.length; i++) total += lengths[i] = r.messages[i]!.value.length
  const values = new Uint8Array(total)
  let o = 0
  for (const m of r.messages) {
    values.set(m.value, o)
    o += m.value.length
  }
  const transfer = [...buffersOf(r.backlog), ...(r.live ? buffersOf(r.live) : []), values.buffer, lengths.buffer]
  return {
    answer: {
      id,
      backlog: r.backlog,
      live: r.live,
      keys: r.messages.map(m => m.key),
      headers: r.messages.map(m => m.headers),
      lengths,
      values: values.buffer
    },
    transfer
  }
}

export function unpackRead(a: ReadAnswer): LaneRead {
  const values = Buffer.from(a.values!)
  const messages: BatchMessage[] = new Array(a.keys!.length)
  let o = 0
  for (let i = 0; i < messages.length; i++) {
    const n = a.lengths![i]!
    messages[i] = { key: a.keys![i]!, value: values.subarray(o, o + n), headers: a.headers![i]! }
    o += n
  }
  return { backlog: a.backlog!, live: a.live ?? null, messages }
}
