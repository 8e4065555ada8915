/**
 * A node:test reporter that prints how long each test file's tests took, longest first, at the end of
 * a run (scripts/test.sh adds it next to spec). Files run several at a time there, so a file's time is the
 * sum of its top-level tests' durations (hooks included, loading not), not the gap between events.
 */
import { relative } from 'node:path'

interface Event {
  type: string
  data?: { file?: string; nesting?: number; details?: { duration_ms?: number } }
}

export default async function* fileTimes(source: AsyncIterable<Event>): AsyncGenerator<string> {
  const started = performance.now()
  const times = new Map<string, number>()
  for await (const ev of source) {
    if (ev.type !== 'test:pass' && ev.type !== 'test:fail') continue
    const file = ev.data?.file
    if (file === undefined || ev.data?.nesting !== 0) continue
    times.set(file, (times.get(file) ?? 0) + (ev.data.details?.duration_ms ?? 0))
  }
  const rows = [...times].sort((a, b) => b[1] - a[1])
  yield `\n# test files by duration (${rows.length} files, ${((performance.now() - started) / 1000).toFixed(0)} s wall)\n`
  for (const [file, ms] of rows) yield `#   ${(ms / 1000).toFixed(1).padStart(6)} s  ${relative(process.cwd(), file)}\n`
}
