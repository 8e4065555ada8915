/**
 * Noticing that files changed on disk (certificate renewal) without a synchronous call on the
 * event loop: async stat polling, compared by inode, size and mtime.
 */
import { readFile, stat, type Stats } from 'node:fs'

const keyOf = (st: Stats | undefined): string => (st === undefined ? 'none' : `${st.ino}:${st.size}:${st.mtimeMs}`)

/** Calls `onChange` (at most once per poll) after any of `files` changed; `close()` stops it. */
export function watchFiles(files: readonly string[], everyMs: number, onChange: () => void): { close: () => void } {
  const keys = new Map<string, string>()
  let busy = false
  const poll = (first: boolean): void => {
    if (busy) return
    busy = true
    let left = files.length
    let changed = false
    for (const f of files) {
      stat(f, (_err, st) => {
        const k = keyOf(st)
        if (!first && keys.get(f) !== k) changed = true
        keys.set(f, k)
        if (--left > 0) return
        busy = false
        if (changed) onChange()
      })
    }
  }
  poll(true)
  const timer = setInterval(() => poll(false), everyMs)
  timer.unref()
  return { close: () => clearInterval(timer) }
}

/**
 * A small text file read once at start and kept fresh: every get() at most once a second starts
 * an async check, and a changed file is re-read in the background. The next get() after that
 * sees the new text (a TLS client reconnecting picks a renewed CA up on its next attempt).
 */
export class FreshFile {
  private text: string
  private key = ''
  private checking = false
  private lastCheckMs = 0

  constructor(
    readonly path: string,
    initial: string
  ) {
    this.text = initial
    stat(path, (_e, st) => {
      if (this.key === '') this.key = keyOf(st)
    })
  }

  get(): string {
    const now = Date.now()
    if (!this.checking && now - this.lastCheckMs >= 1000) {
      this.checking = true
      this.lastCheckMs = now
      stat(this.path, (_e, st) => {
        const k = keyOf(st)
        if (st === undefined || k === this.key) {
          this.checking = false
          return
        }
        readFile(this.path, 'utf8', (err, t) => {
          this.checking = false
          if (err !== null) return
          this.text = t
          this.key = k
        })
      })
    }
    return this.text
  }
}
