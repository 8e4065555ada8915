#!/usr/bin/env node
/**
 * Applies patches/*.patch (unified diffs against node_modules, paths `a/node_modules/...`) at
 * install (`postinstall`, so `npm ci` in production applies them too). Idempotent: a patch whose
 * result is already in place is skipped; one that fits neither way fails the install. Pure Node, no
 * `patch` binary (the runtime image has none).
 */
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dir = join(root, 'patches')

/** Parse a unified diff into files, each with hunks of old and new lines. */
function parse(text) {
  const files = []
  let file = null
  let hunk = null
  for (const line of text.split('\n')) {
    if (line.startsWith('--- ')) continue
    if (line.startsWith('+++ ')) {
      file = { path: line.slice(4).replace(/^b\//, '').split('\t')[0], hunks: [] }
      files.push(file)
      hunk = null
    } else if (line.startsWith('@@')) {
      hunk = { old: [], new: [] }
      file.hunks.push(hunk)
    } else if (hunk !== null) {
      if (line.startsWith(' ')) {
        hunk.old.push(line.slice(1))
        hunk.new.push(line.slice(1))
      } else if (line.startsWith('-')) hunk.old.push(line.slice(1))
      else if (line.startsWith('+')) hunk.new.push(line.slice(1))
      else if (line === '\\ No newline at end of file') continue
    }
  }
  return files
}

/** Replace `from` with `to` where `from` occurs exactly once; null when it does not. */
function replaceOnce(text, from, to) {
  const at = text.indexOf(from)
  if (at < 0 || text.indexOf(from, at + 1) >= 0) return null
  return text.slice(0, at) + to + text.slice(at + from.length)
}

function apply(patchFile) {
  const name = patchFile.replace(/\.patch$/, '')
  for (const f of parse(readFileSync(join(dir, patchFile), 'utf8'))) {
    const target = join(root, f.path)
    if (!existsSync(target)) throw new Error(`${patchFile}: ${f.path} is missing`)
    const before = readFileSync(target, 'utf8')
    let text = before
    for (const [i, h] of f.hunks.entries()) {
      const oldText = h.old.join('\n')
      const newText = h.new.join('\n')
      // Checked first: a hunk that only adds lines would otherwise fit again.
      if (text.includes(newText)) continue
      const applied = replaceOnce(text, oldText, newText)
      if (applied !== null) text = applied
      else throw new Error(`${patchFile}: hunk ${i + 1} of ${f.path} fits neither the original nor the patched file`)
    }
    if (text !== before) writeFileSync(target, text)
    process.stdout.write(`apply-patches: ${name}: ${f.path} ${text === before ? 'already patched' : 'patched'}\n`)
  }
}

if (existsSync(dir)) for (const p of readdirSync(dir).filter(n => n.endsWith('.patch')).sort()) apply(p)
