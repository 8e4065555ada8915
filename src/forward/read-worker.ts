/**
 * The forwarder's read worker (started by read-thread.ts): its own connection to the buffer reads and
 * encodes each lane's share of a produce request, off the broker's thread. Read only: releases stay
 * with the broker thread's connection, which owns the buffer's accounting.
 */
import Database from 'better-sqlite3'
import { gzipSync } from 'node:zlib'
import { parentPort, workerData } from 'node:worker_threads'
import type { ClockCorrection } from '../store/clock.js'
import { niceThisThread } from '../platform/thread-nice.js'
import { correct } from '../store/receive-times.js'
import { RunReads } from '../store/run-reads.js'
import { type LaneSpec, readLane } from './lane-read.js'
import { packRead, type ReadRequest } from './read-wire.js'

const { file, busyTimeoutMs, nice } = workerData as { file: string; busyTimeoutMs: number; nice: number }
// A drain yields the CPU to the broker's and the commit worker's threads.
niceThisThread(nice)
// Opened at the first read: a worker that only compresses never opens the buffer.
let reads: RunReads | null = null
let corrections: readonly ClockCorrection[] = []
function open(): RunReads {
  const db = new Database(file, { timeout: busyTimeoutMs })
  db.pragma('query_only = ON')
  const nameStmt = db.prepare('SELECT name FROM devices WHERE id = ?').pluck()
  const names = new Map<number, string>()
  return new RunReads(db, {
    nameOf: id => {
      let name = names.get(id)
      if (name === undefined) {
        name = (nameStmt.get(id) as string | undefined) ?? String(id)
        names.set(id, name)
      }
      return name
    },
    corrected: (seq, recvMs) => correct(corrections, seq, recvMs)
  })
}

parentPort!.on('message', (m: ReadRequest) => {
  if (m.type === 'close') process.exit(0)
  // A buffer this worker cannot open ends it (outside the try): the forwarder then reads inline.
  if (m.type === 'read') reads ??= open()
  try {
    if (m.type === 'gzip') {
      // Nothing of a request stays here. This isolate allocates almost no JavaScript, so it collects its
      // garbage rarely, and each request's buffers (up to megabytes) waited for that: with 5,000 readings/s
      // forwarded the process grew by 8 MB a minute. So the output is one chunk of zlib's, sized for the
      // worst case (and never from the shared pool, under 4 KB), which goes over as it is; the input goes
      // back, to be freed by the broker thread's frequent collections.
      const gz = gzipSync(m.raw, { chunkSize: Math.max(4096, m.raw.byteLength + (m.raw.byteLength >> 8) + 64) })
      parentPort!.postMessage({ id: m.id, gz, raw: m.raw }, [gz.buffer as ArrayBuffer, m.raw.buffer as ArrayBuffer])
      return
    }
    const spec: LaneSpec = m.spec
    corrections = spec.corrections
    const { answer, transfer } = packRead(m.id, readLane(reads!, spec))
    parentPort!.postMessage(answer, transfer)
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: (err as Error).message })
  }
})
parentPort!.postMessage({ ready: true })
