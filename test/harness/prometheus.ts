/**
 * A strict parser for the Prometheus text exposition format 0.0.4: every line must be a
 * HELP, TYPE, comment, blank line or a well-formed sample; a family's TYPE comes before its
 * samples, samples of one family are contiguous, and no series appears twice. Throws with
 * the line number on anything else, so a malformed /metrics fails the test that reads it.
 */
export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}
export interface Family {
  name: string
  type: MetricType
  help: string | null
  samples: Sample[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

function parseValue(s: string, where: string): number {
  if (s === '+Inf' || s === 'Inf') return Infinity
  if (s === '-Inf') return -Infinity
  if (s === 'NaN') return NaN
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`${where}: bad value ${JSON.stringify(s)}`)
  return Number(s)
}

function unescapeHelp(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
}

/** Labels `{a="x",b="y"}` from position i (at '{'); returns labels and the index after '}'. */
function parseLabels(line: string, i: number, where: string): [Record<string, string>, number] {
  const labels: Record<string, string> = {}
  i++
  while (true) {
    if (line[i] === '}') return [labels, i + 1]
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i))
    if (m === null) throw new Error(`${where}: bad label name`)
    const name = m[0]
    i += name.length
    if (line[i] !== '=' || line[i + 1] !== '"') throw new Error(`${where}: expected =" after label ${name}`)
    i += 2
    let value = ''
    while (true) {
      const c = line[i]
      if (c === undefined) throw new Error(`${where}: unterminated label value`)
      if (c === '"') break
      if (c === '\\') {
        const n = line[i + 1]
        if (n === 'n') value += '\n'
        else if (n === '\\' || n === '"') value += n
        else throw new Error(`${where}: bad escape \\${n ?? ''}`)
        i += 2
        continue
      }
      if (c === '\n') throw new Error(`${where}: raw newline in label value`)
      value += c
      i++
    }
    i++
    if (!LABEL.test(name) || name.startsWith('__')) throw new Error(`${where}: reserved or bad label name ${name}`)
    if (Object.hasOwn(labels, name)) throw new Error(`${where}: label ${name} twice`)
    labels[name] = value
    if (line[i] === ',') i++
    else if (line[i] !== '}') throw new Error(`${where}: expected , or } after label ${name}`)
  }
}

function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(sample)
  if (direct !== undefined) return direct
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue
    const f = families.get(sample.slice(0, -suffix.length))
    if (f !== undefined && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f
  }
  return undefined
}

export function parsePrometheusText(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('exposition must end with a newline')
  const families = new Map<string, Family>()
  const helps = new Map<string, string>()
  const seen = new Set<string>()
  const closed = new Set<string>()
  let current: Family | null = null
  const lines = text.split('\n')
  lines.pop()
  lines.forEach((line, idx) => {
    const where = `line ${idx + 1}`
    if (line.trim() === '') return
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line)
      if (m === null) return // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string | undefined]
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name ${name}`)
      if (kind === 'HELP') {
        if (helps.has(name)) throw new Error(`${where}: second HELP for ${name}`)
        helps.set(name, unescapeHelp(rest ?? ''))
        const f = families.get(name)
        if (f !== undefined) f.help = helps.get(name)!
        return
      }
      if (rest === undefined || !TYPES.has(rest)) throw new Error(`${where}: bad TYPE ${rest ?? ''} for ${name}`)
      if (families.has(name)) throw new Error(`${where}: second TYPE for ${name}`)
      if (current !== null) closed.add(current.name)
      current = { name, type: rest as MetricType, help: helps.get(name) ?? null, samples: [] }
      families.set(name, current)
      return
    }
    const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)
    if (m === null) throw new Error(`${where}: not a sample: ${line}`)
    const name = m[0]
    let i = name.length
    let labels: Record<string, string> = {}
    if (line[i] === '{') [labels, i] = parseLabels(line, i, where)
    if (line[i] !== ' ') throw new Error(`${where}: expected a space before the value`)
    const parts = line.slice(i + 1).split(' ')
    if (parts.length > 2 || parts[0] === '') throw new Error(`${where}: expected "value [timestamp]"`)
    const value = parseValue(parts[0]!, where)
    if (parts.length === 2 && !/^-?\d+$/.test(parts[1]!)) throw new Error(`${where}: bad timestamp`)
    let fam = familyOf(name, families)
    if (fam === undefined) {
      // An untyped sample opens its own family.
      if (current !== null) closed.add(current.name)
      fam = current = { name, type: 'untyped', help: helps.get(name) ?? null, samples: [] }
      families.set(name, fam)
    }
    if (fam !== current || closed.has(fam.name))
      throw new Error(`${where}: sample of ${fam.name} outside its family's block`)
    if (fam.type === 'counter' && (value < 0 || Number.isNaN(value)))
      throw new Error(`${where}: counter ${name} is ${value}`)
    const key = name + JSON.stringify(Object.entries(labels).sort())
    if (seen.has(key)) throw new Error(`${where}: duplicate series ${key}`)
    seen.add(key)
    fam.samples.push({ name, labels, value })
  })
  return families
}

/** The value of one series, or undefined. Labels must match exactly. */
export function valueOf(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {}
): number | undefined {
  const f = familyOf(name, families)
  const want = JSON.stringify(Object.entries(labels).sort())
  return f?.samples.find(s => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want)?.value
}
