/**
 * Kafka-level GZIP for the uplink, compressed where the forwarder says: on a read worker at low priority
 * (read-thread.ts), so a drain's compression takes the CPU the broker's thread leaves instead of sharing
 * it through libuv's thread pool. kafkajs looks its codecs up in one registry, so this one replaces its
 * GZIP codec for the process; without an offload it compresses as kafkajs's own does.
 */
import { promisify } from 'node:util'
import { gzip, unzip } from 'node:zlib'
import kafkajs from 'kafkajs'

export const gzipHere = promisify(gzip)
const unzipHere = promisify(unzip)
const { CompressionCodecs, CompressionTypes } = kafkajs
let offload: ((raw: Buffer) => Promise<Buffer>) | null = null
let installed = false

/** Compress through `fn` from now on (null: on libuv's thread pool). */
export function setGzipOffload(fn: ((raw: Buffer) => Promise<Buffer>) | null): void {
  offload = fn
  if (installed) return
  installed = true
  CompressionCodecs[CompressionTypes.GZIP] = () => ({
    compress: async (encoder: { buffer: Buffer }) =>
      offload === null ? gzipHere(encoder.buffer) : offload(encoder.buffer),
    decompress: async (buffer: Buffer) => unzipHere(buffer)
  })
}
