/**
 * The last log lines kept in memory for the status page ("recent warnings and errors") and
 * the diagnostics bundle. A pino multistream destination: it receives the serialized JSON
 * lines and keeps the raw strings; they are parsed only when someone asks for them.
 * Warnings and errors go to a ring of their own so routine info lines never push them out.
 */
export interface LogEntry {
  level: string
  time: string
  msg: string
  code?: string
  [key: string]: unknown
}

const MAX_LINE_CHARS = 8 * 1024
const PROBLEM = /^\{"level":"(warn|error|fatal)"/

class Ring {
  private readonly lines: string[] = []
  private next = 0
  constructor(private readonly size: number) {}
  push(line: string): void {
    if (this.lines.length < this.size) this.lines.push(line)
    else this.lines[this.next] = line
    this.next = (this.next + 1) % this.size
  }

  /** Oldest first. */
  all(): string[] {
    return this.lines.length < this.size
      ? [...this.lines]
      : [...this.lines.slice(this.next), ...this.lines.slice(0, this.next)]
  }
}

export class LogRing {
  private readonly recent: Ring
  private readonly problems: Ring
  /** Count of warn+ lines since start, so the page can tell "new since you looked". */
  problemCount = 0

  constructor(size = 500, problemSize = 100) {
    this.recent = new Ring(size)
    this.problems = new Ring(problemSize)
  }

  /** pino calls this with one serialized line (ending in a newline). */
  write(line: string): void {
    const l = line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) : line.trimEnd()
    this.recent.push(l)
    if (PROBLEM.test(l)) {
      this.problems.push(l)
      this.problemCount++
    }
  }

  /** The last lines at any level the logger emits, oldest first. */
  lines(): LogEntry[] {
    return this.recent.all().map(parse)
  }

  /** The last warnings and errors, newest first. */
  problemLines(limit = 100): LogEntry[] {
    return this.problems.all().slice(-limit).reverse().map(parse)
  }
}

function parse(line: string): LogEntry {
  try {
    const o = JSON.parse(line) as Record<string, unknown>
    return { ...o, level: String(o.level ?? 'info'), time: String(o.time ?? ''), msg: String(o.msg ?? '') }
  } catch {
    // A line cut at MAX_LINE_CHARS is no longer JSON; keep what it said.
    const level = /^\{"level":"(\w+)"/.exec(line)?.[1] ?? 'info'
    return { level, time: '', msg: line }
  }
}

/** The gateway process's ring: createLogger feeds it unless told otherwise. */
export const processLogRing = new LogRing()
