/**
 * One build at a time, shared by every caller that asked before it started. A build captures its
 * document when it starts, so a caller arriving while one runs waits for the next: nobody gets a
 * document older than their request, and pages polling together cost one build, not one each.
 */
export class SharedBuild<T> {
  private running: Promise<T> | null = null
  private next: Promise<T> | null = null

  /** `build` must capture what it shows before its first await. */
  constructor(private readonly build: () => Promise<T>) {}

  get(): Promise<T> {
    if (this.running === null) return this.start()
    this.next ??= this.running.then(
      () => this.startNext(),
      () => this.startNext()
    )
    return this.next
  }

  private startNext(): Promise<T> {
    this.next = null
    return this.start()
  }

  private start(): Promise<T> {
    const p = this.build()
    this.running = p
    const done = (): void => {
      if (this.running === p) this.running = null
    }
    p.then(done, done)
    return p
  }
}
