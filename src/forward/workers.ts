/**
 * The forwarder's two read workers (read-thread.ts): one reads and encodes requests, one compresses
 * them. They run only while the uplink takes requests. While it is down each is an isolate doing
 * nothing (about 10 MB of RSS), and a request read for a send that failed leaves its garbage in
 * their heaps, which an idle isolate does not collect.
 */
import type { RunReads } from '../store/run-reads.js'
import { gzipHere, setGzipOffload } from './gzip-codec.js'
import { type LaneRead, type LaneSpec, readLane } from './lane-read.js'
import type { ReadThread } from './read-thread.js'

export type OpenReader = (role: 'read' | 'gzip') => ReadThread

export class ForwardWorkers {
  private reader: ReadThread | null = null
  private packer: ReadThread | null = null

  /** `open` absent: everything runs on the broker's thread and on libuv's pool. */
  constructor(
    private readonly open: OpenReader | undefined,
    private readonly reads: RunReads
  ) {}

  /** Workers running: 2 while the uplink takes requests; 0 while it is down or there was nothing to read. */
  get count(): number {
    return (this.reader === null ? 0 : 1) + (this.packer === null ? 0 : 1)
  }

  /** Start both workers, unless they run. */
  start(): void {
    if (this.open === undefined || this.reader !== null) return
    this.reader = this.open('read')
    // A second worker compresses: a request's GZIP need not wait behind the next request's read.
    const packer = (this.packer = this.open('gzip'))
    setGzipOffload(raw => (packer.usable ? packer.gzip(raw) : gzipHere(raw)))
  }

  /** One lane's read: on the read worker while it runs, else on this thread. */
  read(spec: LaneSpec): Promise<LaneRead> | LaneRead {
    const reader = this.reader
    if (reader?.usable) return reader.read(spec)
    return readLane(this.reads, spec)
  }

  /** Stop both; call only with no read in flight. Compression falls back to libuv's pool meanwhile. */
  async stop(): Promise<void> {
    const { reader, packer } = this
    if (reader === null) return
    this.reader = null
    this.packer = null
    setGzipOffload(null)
    await Promise.all([reader.close(), packer?.close()])
  }
}
