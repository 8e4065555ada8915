/**
 * The broker thread's handle on a read worker (read-worker.ts): lane reads or request compressions,
 * answered as events, in order. If the worker cannot start or dies, `usable` turns false and the forwarder reads inline.
 */
import { Worker } from 'node:worker_threads'
import type { LaneRead, LaneSpec } from './lane-read.js'
import { type ReadAnswer, type ReadRequest, unpackRead } from './read-wire.js'

/** The read worker's nice value: it takes the CPU the broker's thread leaves (Linux: 19 is the lowest priority). */
const READ_WORKER_NICE = 19

export class ReadThread {
  private readonly worker: Worker
  private readonly ready: Promise<boolean>
  private nextId = 0
  private readonly pending = new Map<number, { resolve: (a: ReadAnswer) => void; reject: (e: Error) => void }>()
  private failed = false

  constructor(
    file: string,
    busyTimeoutMs: number,
    private readonly onError: (message: string) => void
  ) {
    this.worker = new Worker(new URL('./read-worker.js', import.meta.url), {
      workerData: { file, busyTimeoutMs, nice: READ_WORKER_NICE },
      // A request's readings and messages live here while it is encoded (up to REQUEST_BYTES of payload).
      resourceLimits: { maxOldGenerationSizeMb: 256 }
    })
    this.worker.unref()
    this.ready = new Promise(resolve => {
      this.worker.on('message', (m: { ready?: true } & ReadAnswer) => {
        if (m.ready === true) return resolve(true)
        const p = this.pending.get(m.id)
        if (p === undefined) return
        this.pending.delete(m.id)
        if (m.error !== undefined) p.reject(new Error(m.error))
        else p.resolve(m)
      })
      const fail = (message: string): void => {
        resolve(false)
        if (this.failed) return
        this.failed = true
        this.onError(message)
        for (const p of this.pending.values()) p.reject(new Error(message))
        this.pending.clear()
      }
      this.worker.on('error', err => fail(err.message))
      this.worker.on('exit', code => fail(`read worker exited (code ${code})`))
    })
  }

  /** False once the worker failed: read inline instead. */
  get usable(): boolean {
    return !this.failed
  }

  async read(spec: LaneSpec): Promise<LaneRead> {
    return unpackRead(await this.ask(id => ({ type: 'read', id, spec })))
  }

  /** GZIP `raw` on the worker (a copy is handed over: kafkajs keeps its buffer). */
  async gzip(raw: Buffer): Promise<Buffer> {
    const copy = new Uint8Array(raw)
    const gz = (await this.ask(id => ({ type: 'gzip', id, raw: copy }), [copy.buffer])).gz!
    return Buffer.from(gz.buffer, gz.byteOffset, gz.length)
  }

  private async ask(request: (id: number) => ReadRequest, transfer: ArrayBuffer[] = []): Promise<ReadAnswer> {
    if (!(await this.ready)) throw new Error('read worker not running')
    const id = ++this.nextId
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.worker.postMessage(request(id), transfer)
    })
  }

  async close(): Promise<void> {
    if (this.failed) return
    this.failed = true
    // Referenced again: the stop sequence awaits this, and must not end with the event loop.
    this.worker.ref()
    const exited = new Promise(resolve => this.worker.once('exit', resolve))
    this.worker.postMessage({ type: 'close' } satisfies ReadRequest)
    const timer = setTimeout(() => void this.worker.terminate().catch(() => {}), 2000)
    await exited
    clearTimeout(timer)
    // Answered before the worker ended, normally; a read cut short by the timer fails instead of hanging.
    for (const p of this.pending.values()) p.reject(new Error('read worker closed'))
    this.pending.clear()
  }
}
