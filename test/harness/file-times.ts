/**
 * A node:test reporter that prints how long each test file took, longest first, at the end of a
 * run (scripts/test.sh adds it next to spec). Files run one at a time there, so a file's time is
 * from the previous file's last event to its own last one: loading, hooks (a broker's start) and tests.
 */
import { relative } from 'node:path'

interface Event {
  type: string
  data?: { file?: string }
}

export default async function* fileTimes(source: AsyncIterable<Event>): AsyncGenerator<string> {
  const started = performance.now()
  const lastSeen = new Map<string, number>()
  const times = new Map<string, number>()
  let previousEnd = started
  let current: string | null = null
  for await (const ev of source) {
    const file = ev.data?.file
    if (file === undefined) continue
    const now = performance.now()
    if (file !== current) {
      if (current !== null) previousEnd = lastSeen.get(current)!
      current = file
    }
    lastSeen.set(file, now)
    times.set(file, now - previousEnd)
  }
  const rows = [...times].sort((a, b) => b[1] - a[1])
  yield `\n# test files by duration (${rows.length} files, ${((performance.now() - started) / 1000).toFixed(0)} s)\n`
  for (const [file, ms] of rows) yield `#   ${(ms / 1000).toFixed(1).padStart(6)} s  ${relative(process.cwd(), file)}\n`
}
