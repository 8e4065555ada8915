import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The rooms of src/ from the bottom up, as the README's "Layout" section lists them. A room imports
 * from its own room and from rooms in lower layers only; rooms in one layer know nothing of each other.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts', 'version.ts', 'text.ts', 'log-ring.ts', 'log-throttle.ts', 'platform'],
  ['log.ts'],
  ['store'],
  ['codec'],
  ['config'],
  ['kafka', 'metrics'],
  ['identity', 'quota'],
  ['forward'],
  ['aggregate'],
  ['broker', 'status'],
  ['remote-config'],
  ['main.ts', 'central'],
  ['cli']
]

const src = fileURLToPath(new URL('../../src', import.meta.url))
const layerOf = new Map(LAYERS.flatMap((rooms, i) => rooms.map(r => [r, i] as const)))
const roomOf = (file: string): string => relative(src, file).split('/')[0]!
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)'(\.{1,2}\/[^']+)'/g

function sources(): string[] {
  return readdirSync(src, { recursive: true, withFileTypes: true })
    .filter(e => e.isFile() && e.name.endsWith('.ts'))
    .map(e => join(e.parentPath ?? e.path, e.name))
}

/** Every relative import in src/ as [from room, to room, file]. */
function edges(): Array<{ from: string; to: string; file: string; spec: string }> {
  const out: Array<{ from: string; to: string; file: string; spec: string }> = []
  for (const file of sources()) {
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = resolve(dirname(file), m[1]!).replace(/\.js$/, '.ts')
      out.push({ from: roomOf(file), to: roomOf(target), file: relative(src, file), spec: m[1]! })
    }
  }
  return out
}

test('every room of src/ has its place in the layer list', () => {
  const rooms = new Set(sources().map(roomOf))
  assert.deepEqual(
    [...rooms].filter(r => !layerOf.has(r)),
    [],
    'new top-level rooms go into LAYERS here and the README layout list'
  )
  assert.ok(edges().length > 100, 'imports were found')
})

test('dependencies run one way: no room imports from its own layer or a higher one', () => {
  const wrong = edges()
    .filter(e => e.from !== e.to && layerOf.get(e.to)! >= layerOf.get(e.from)!)
    .map(e => `${e.file} imports ${e.spec} (${e.from} may not depend on ${e.to})`)
  assert.deepEqual(wrong, [])
})

test("the README's layout section lists the same layers", () => {
  const readme = readFileSync(join(src, '..', 'README.md'), 'utf8')
  const start = readme.indexOf('\n## Layout\n')
  assert.ok(start >= 0)
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1))
  const listed = [...section.matchAll(/^\d+\. (.+?)(?: —|$)/gm)].map(m =>
    [...m[1]!.matchAll(/`src\/([^`]+?)\/?`/g)].map(r => r[1]!)
  )
  assert.deepEqual(listed, LAYERS, 'README layout: one numbered line per layer, rooms as `src/<room>/`')
})
