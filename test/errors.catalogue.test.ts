import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ErrorCodes } from '../src/errors.js'

// Source files, not the build: the catalogue is checked against what is written.
const root = fileURLToPath(new URL('../..', import.meta.url))
const CODE = /\bHF_(?:ERR|WARN)_[A-Z0-9_]+\b/g

function tsFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter(e => e.isFile() && e.name.endsWith('.ts'))
    .map(e => join(e.parentPath ?? e.path, e.name))
}

/** Each code named in the files, with the files naming it. */
function codesIn(files: string[]): Map<string, string[]> {
  const found = new Map<string, string[]>()
  for (const f of files) {
    for (const m of readFileSync(f, 'utf8').matchAll(CODE)) {
      const where = found.get(m[0]) ?? []
      if (!where.includes(f)) where.push(f)
      found.set(m[0], where)
    }
  }
  return found
}

const catalogue = join(root, 'src', 'errors.ts')
const declared = new Set(Object.keys(ErrorCodes))

test('every code src/ logs, throws or returns is declared in src/errors.ts', () => {
  const used = codesIn(tsFiles('src').filter(f => f !== catalogue))
  const undeclared = [...used].filter(([c]) => !declared.has(c)).map(([c, w]) => `${c} (${w.join(', ')})`)
  assert.deepEqual(undeclared, [], 'codes used but missing from the catalogue')
})

test('every code in src/errors.ts is used somewhere in src/', () => {
  const used = codesIn(tsFiles('src').filter(f => f !== catalogue))
  const unused = [...declared].filter(c => !used.has(c))
  assert.deepEqual(unused, [], 'catalogue codes nothing in src/ uses')
})

test('tests, the simulator and benchmarks name only declared codes', () => {
  const used = codesIn([...tsFiles('test'), ...tsFiles('device-sim'), ...tsFiles('bench')])
  const undeclared = [...used].filter(([c]) => !declared.has(c)).map(([c, w]) => `${c} (${w.join(', ')})`)
  assert.deepEqual(undeclared, [])
})

test('every catalogue entry has a meaning, and codes say whether they are errors or warnings', () => {
  for (const [code, meaning] of Object.entries(ErrorCodes)) {
    assert.match(code, /^HF_(ERR|WARN)_[A-Z0-9_]+$/)
    assert.ok(meaning.length > 0 && !meaning.includes('|'), `${code}: a meaning without '|'`)
  }
})

test('the README names only declared codes', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const named = new Set(readme.match(CODE) ?? [])
  assert.deepEqual(
    [...named].filter(c => !declared.has(c)),
    []
  )
})

test("the README's table of codes is the catalogue, in its order", () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const start = readme.indexOf('\n## Error codes\n')
  assert.ok(start >= 0, 'README has an "## Error codes" section')
  const end = readme.indexOf('\n## ', start + 1)
  const section = readme.slice(start, end < 0 ? undefined : end)
  const rows = [...section.matchAll(/^\| `(HF_[A-Z0-9_]+)` \| (.*) \|$/gm)].map(m => `| \`${m[1]}\` | ${m[2]} |`)
  const expected = Object.entries(ErrorCodes).map(([c, m]) => `| \`${c}\` | ${m} |`)
  assert.deepEqual(rows, expected, `README's table should read:\n| code | meaning |\n|---|---|\n${expected.join('\n')}`)
})
