/**
 * The systemd packaging: the unit passes `systemd-analyze verify` (and a typo in it would not),
 * carries the hardening the appliance promises, scores well in `systemd-analyze security`, its
 * sysusers.d snippet creates the user; and src/platform/sdnotify.ts talks to a real process —
 * a stand-in `systemd-notify` on PATH that records its arguments, and the real systemd-notify
 * sending real datagrams to a unix socket the test listens on (python3: Node has no unix datagrams).
 */
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sleep } from './harness/wait.js'
import {
  notifyReady,
  notifyStatus,
  notifyStopping,
  sdNotify,
  startWatchdog,
  watchdogIntervalMs
} from '../src/platform/sdnotify.js'

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..')
const UNIT = join(ROOT, 'systemd/holdfast.service')
const SYSUSERS = join(ROOT, 'systemd/holdfast.sysusers')

interface Run {
  code: number | null
  stdout: string
  stderr: string
  error?: NodeJS.ErrnoException
}
async function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Run> {
  return await new Promise(resolve => {
    const child = execFile(
      cmd,
      args,
      { env: opts.env ?? process.env, timeout: 60_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const e = error as (NodeJS.ErrnoException & { code?: unknown }) | null
        resolve({
          code: e === null ? 0 : typeof e.code === 'number' ? e.code : null,
          stdout,
          stderr,
          ...(e !== null && typeof e.code === 'string' ? { error: e } : {})
        })
      }
    )
    if (opts.input !== undefined) child.stdin?.end(opts.input)
  })
}

/** [Section] → key → values, in file order (a key may repeat, e.g. SystemCallFilter). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>()
  let current: Map<string, string[]> | undefined
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const sec = /^\[(.+)\]$/.exec(line)
    if (sec !== null) {
      current = new Map()
      sections.set(sec[1]!, current)
      continue
    }
    const eq = line.indexOf('=')
    assert.ok(current !== undefined && eq > 0, `unit line outside a section or without '=': ${line}`)
    const key = line.slice(0, eq)
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)])
  }
  return sections
}

const unitText = readFileSync(UNIT, 'utf8')
const unit = parseUnit(unitText)
const service = unit.get('Service') ?? new Map<string, string[]>()
const one = (section: Map<string, string[]> | undefined, key: string): string | undefined => section?.get(key)?.at(-1)

/**
 * A copy of the unit whose ExecStart runs this test's own node on this checkout's CLI, so the
 * paths systemd-analyze checks exist here (on a box they are /usr/bin/node and /opt/holdfast).
 */
function unitCopy(dir: string, edit: (text: string) => string = t => t): string {
  const text = edit(unitText)
    .replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `)
    .replaceAll('/opt/holdfast/', `${ROOT}/`)
  const file = join(dir, 'holdfast.service')
  writeFileSync(file, text)
  return file
}

describe('systemd unit', () => {
  let dir: string
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hf-systemd-'))
    const v = await run('systemd-analyze', ['--version'])
    assert.ok(
      v.error === undefined,
      `systemd-analyze is not installed (${v.error?.code ?? ''}); scripts/install-system-deps.sh installs Debian's "systemd" package`
    )
  })
  after(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  test('passes systemd-analyze verify with no warning about it', async () => {
    const file = unitCopy(dir)
    assert.match(
      readFileSync(file, 'utf8'),
      new RegExp(`^ExecStart=${process.execPath} (--\\S+ )*${ROOT}/dist/src/cli/main.js run `, 'm')
    )
    const r = await run('systemd-analyze', ['verify', '--man=no', file])
    // verify reports unknown keys and unparsable values on stderr but still exits 0 for them,
    // so the verdict is: exit 0 and not one line about our unit.
    const about = r.stderr.split('\n').filter(l => l.includes('holdfast'))
    assert.deepEqual(about, [], `systemd-analyze verify complained:\n${r.stderr}`)
    assert.equal(r.code, 0, r.stderr)
  })

  test('systemd-analyze verify would catch a typo or a missing binary (the check above is not vacuous)', async () => {
    const bad = mkdtempSync(join(dir, 'bad-'))
    const typo = await run('systemd-analyze', [
      'verify',
      '--man=no',
      unitCopy(bad, t => t.replace('ProtectSystem=strict', 'ProtectSystem=strictly\nProtectSytem=yes'))
    ])
    assert.match(typo.stderr, /Failed to parse protect system value.*strictly/)
    assert.match(typo.stderr, /Unknown key 'ProtectSytem'/)
    const missing = await run('systemd-analyze', [
      'verify',
      '--man=no',
      unitCopy(bad, t => t.replace('ExecStart=/usr/bin/node ', 'ExecStart=/nonexistent/node '))
    ])
    assert.notEqual(missing.code, 0)
    assert.match(missing.stderr, /\/nonexistent\/node is not executable/)
  })

  test('runs as its own user with its state and configuration directories', () => {
    assert.equal(one(service, 'User'), 'holdfast')
    assert.equal(one(service, 'Group'), 'holdfast')
    assert.equal(one(service, 'StateDirectory'), 'holdfast')
    assert.equal(one(service, 'ConfigurationDirectory'), 'holdfast')
    assert.equal(
      one(service, 'ReadOnlyPaths'),
      '/etc/holdfast',
      'ConfigurationDirectory= alone is writable under ProtectSystem=strict'
    )
    const exec = one(service, 'ExecStart') ?? ''
    // node's own flags (V8 heap sizing) may come before the script
    assert.match(exec, /^\/usr\/bin\/node (--\S+ )*\/opt\/holdfast\/dist\/src\/cli\/main\.js run /)
    assert.match(exec, / --data-dir \/var\/lib\/holdfast( |$)/, 'the buffer lives in the StateDirectory')
    assert.match(
      exec,
      / --config \/etc\/holdfast\/holdfast\.json( |$)/,
      'the config lives in the ConfigurationDirectory'
    )
  })

  test('is hardened', () => {
    const expected: Record<string, string> = {
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      PrivateDevices: 'yes',
      NoNewPrivileges: 'yes',
      CapabilityBoundingSet: '',
      AmbientCapabilities: '',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX AF_NETLINK',
      RestrictNamespaces: 'yes',
      RestrictSUIDSGID: 'yes',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectControlGroups: 'yes',
      LockPersonality: 'yes',
      SystemCallArchitectures: 'native',
      SystemCallErrorNumber: 'EPERM'
    }
    for (const [key, value] of Object.entries(expected)) assert.equal(one(service, key), value, `${key}=${value}`)
    assert.deepEqual(service.get('SystemCallFilter'), ['@system-service', '~@privileged'])
    assert.match(one(service, 'MemoryMax') ?? '', /^\d+[KMG]$/)
    assert.match(
      one(service, 'ExecStart') ?? '',
      /^\/usr\/bin\/node --heap-growing-percent=\d+ --max-semi-space-size=\d+ --single-threaded-gc /,
      'the heap sizing that keeps RSS under MemoryMax (bench/memory.ts)'
    )
    assert.equal(
      service.get('MemoryDenyWriteExecute'),
      undefined,
      'V8 JIT needs W+X pages: MemoryDenyWriteExecute would crash node'
    )
    assert.equal(service.get('ProcSubset'), undefined, 'systeminformation reads /proc/meminfo, /proc/stat')
  })

  test('restarts on failure within a limit, logs to journald, stops with SIGTERM and a timeout', () => {
    const u = unit.get('Unit')
    assert.equal(one(service, 'Restart'), 'on-failure')
    assert.equal(
      one(service, 'RestartPreventExitStatus'),
      '2',
      'exit code 2 = invalid configuration: a restart cannot fix it'
    )
    assert.match(one(u, 'StartLimitIntervalSec') ?? '', /^\d+/)
    assert.match(one(u, 'StartLimitBurst') ?? '', /^\d+$/)
    assert.equal(one(service, 'StandardOutput'), 'journal')
    assert.equal(one(service, 'KillSignal'), 'SIGTERM')
    const stopS = Number(/^(\d+)s$/.exec(one(service, 'TimeoutStopSec') ?? '')?.[1])
    assert.ok(stopS > 15, 'TimeoutStopSec leaves the gateway its own 15 s forced-exit window')
    assert.equal(one(unit.get('Install'), 'WantedBy'), 'multi-user.target')
  })

  test('readiness and watchdog: Type=notify with NotifyAccess=all (systemd-notify is a child process)', () => {
    assert.equal(one(service, 'Type'), 'notify')
    assert.equal(one(service, 'NotifyAccess'), 'all')
    assert.match(one(service, 'WatchdogSec') ?? '', /^\d+s$/)
  })

  test('systemd-analyze security rates the exposure 2.5 or lower', async t => {
    const r = await run('systemd-analyze', ['security', '--offline=yes', '--no-pager', unitCopy(dir)])
    if (/unrecognized option|Unknown option/i.test(r.stderr)) {
      t.skip(`this systemd-analyze has no --offline (systemd < 250): ${r.stderr.trim()}`)
      return
    }
    const m = /Overall exposure level for holdfast\.service: (\d+(?:\.\d+)?)/.exec(r.stdout + r.stderr)
    assert.ok(m !== null, `no exposure level in:\n${r.stdout}\n${r.stderr}`)
    assert.ok(Number(m[1]) <= 2.5, `exposure ${m[1]}:\n${r.stdout}`)
  })

  test('the sysusers.d snippet creates a system user and group without a login shell', async () => {
    const root = mkdtempSync(join(dir, 'root-'))
    mkdirSync(join(root, 'etc'))
    const r = await run('systemd-sysusers', [`--root=${root}`, '-'], { input: readFileSync(SYSUSERS, 'utf8') })
    assert.equal(r.code, 0, r.stderr)
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8')
    const m = /^holdfast:x:(\d+):(\d+):[^:]*:\/var\/lib\/holdfast:\/usr\/sbin\/nologin$/m.exec(passwd)
    assert.ok(m !== null, passwd)
    assert.ok(Number(m[1]) < 1000, 'a system uid')
    assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), new RegExp(`^holdfast:x:${m[2]}:`, 'm'))
  })
})

describe('sdnotify against a stand-in systemd-notify on PATH', () => {
  let dir: string
  let record: string
  let env: NodeJS.ProcessEnv
  const calls = (): string[][] =>
    existsSync(record)
      ? readFileSync(record, 'utf8')
          .split('\n')
          .filter(l => l !== '')
          .map(l => l.split('\t'))
      : []

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hf-sdnotify-'))
    record = join(dir, 'calls.tsv')
    const bin = join(dir, 'bin')
    mkdirSync(bin)
    // A shell script (fast to start, so watchdog pings are not skipped as "still in flight"):
    // records NOTIFY_SOCKET and each argument tab-separated on one line; exits 1 when asked to,
    // like a refused send.
    writeFileSync(
      join(bin, 'systemd-notify'),
      `#!/bin/sh
{ printf '%s' "$NOTIFY_SOCKET"; for a in "$@"; do printf '\\t%s' "$a"; done; printf '\\n'; } >> '${record}'
[ "$FAKE_NOTIFY_FAIL" = 1 ] && exit 1
exit 0
`
    )
    chmodSync(join(bin, 'systemd-notify'), 0o755)
    env = { PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`, NOTIFY_SOCKET: '/run/systemd/notify' }
  })
  after(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  test('does nothing without NOTIFY_SOCKET', async () => {
    const noSocket = { PATH: env.PATH, WATCHDOG_USEC: '1000000' }
    assert.equal(await notifyReady('up', { env: noSocket }), false)
    assert.equal(await notifyStopping(undefined, { env: noSocket }), false)
    assert.equal(startWatchdog({ env: noSocket }).intervalMs, 0)
    assert.equal(await notifyReady('up', { env: { ...noSocket, NOTIFY_SOCKET: '' } }), false)
    assert.deepEqual(calls(), [])
  })

  test('READY, STATUS and STOPPING are passed as systemd-notify arguments', async () => {
    rmSync(record, { force: true })
    assert.equal(await notifyReady('listening on 1883\nbacklog 0', { env }), true)
    assert.equal(await notifyStatus('draining', { env }), true)
    assert.equal(await notifyStopping(undefined, { env }), true)
    assert.equal(await notifyStopping('SIGTERM', { env }), true)
    assert.deepEqual(calls(), [
      ['/run/systemd/notify', '--ready', '--status=listening on 1883 backlog 0'],
      ['/run/systemd/notify', '--status=draining'],
      ['/run/systemd/notify', 'STOPPING=1'],
      ['/run/systemd/notify', 'STOPPING=1', '--status=SIGTERM']
    ])
  })

  test('a failing or missing tool resolves false and reports the error, never throws', async () => {
    const errors: Error[] = []
    assert.equal(
      await sdNotify(['--ready'], { env: { ...env, FAKE_NOTIFY_FAIL: '1' }, onError: e => errors.push(e) }),
      false
    )
    assert.equal(
      await notifyReady(undefined, { env, command: join(dir, 'no-such-tool'), onError: e => errors.push(e) }),
      false
    )
    assert.equal(errors.length, 2)
    assert.equal((errors[1] as NodeJS.ErrnoException).code, 'ENOENT')
  })

  test('the watchdog interval is half of WATCHDOG_USEC, only for the PID systemd named', () => {
    assert.equal(watchdogIntervalMs({ NOTIFY_SOCKET: 's', WATCHDOG_USEC: '30000000' }, 42), 15_000)
    assert.equal(watchdogIntervalMs({ NOTIFY_SOCKET: 's', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 15_000)
    assert.equal(
      watchdogIntervalMs({ NOTIFY_SOCKET: 's', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '41' }, 42),
      0,
      'inherited from a parent'
    )
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 42), 0, 'no socket')
    for (const bad of ['', '0', '-5', '1e6', 'abc'])
      assert.equal(watchdogIntervalMs({ NOTIFY_SOCKET: 's', WATCHDOG_USEC: bad }, 42), 0, bad)
  })

  test('startWatchdog pings WATCHDOG=1 on its interval until stopped', async () => {
    rmSync(record, { force: true })
    const wd = startWatchdog({ env: { ...env, WATCHDOG_USEC: '300000', WATCHDOG_PID: String(process.pid) } })
    assert.equal(wd.intervalMs, 150)
    await sleep(1000)
    wd.stop()
    await sleep(300) // a ping in flight at stop() may still land
    const n = calls().length
    assert.ok(n >= 3 && n <= 8, `${n} pings in 1 s at a 150 ms interval (one at start, then one per tick)`)
    assert.ok(
      calls().every(c => c.length === 2 && c[1] === 'WATCHDOG=1'),
      JSON.stringify(calls())
    )
    await sleep(400)
    assert.equal(calls().length, n, 'no ping after stop()')
    assert.equal(
      startWatchdog({ env: { ...env, WATCHDOG_USEC: '300000', WATCHDOG_PID: String(process.pid + 1) } }).intervalMs,
      0
    )
  })
})

describe('sdnotify through the real systemd-notify to a unix datagram socket', () => {
  // What systemd's manager does with the socket, minus the manager: receive datagrams, close the
  // file descriptor of each BARRIER=1 (systemd-notify waits for that), print each message.
  const RECEIVER = `
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(repr(msg.decode()), flush=True)
`
  let dir: string
  let receiver: ChildProcess | undefined
  let received = ''
  let env: NodeJS.ProcessEnv

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hf-notify-sock-'))
    const sock = join(dir, 'notify')
    receiver = spawn('python3', ['-c', RECEIVER, sock], { stdio: ['ignore', 'pipe', 'pipe'] })
    receiver.stdout!.on('data', d => {
      received += d
    })
    receiver.stderr!.on('data', d => {
      received += d
    })
    const spawned = await new Promise<boolean>(resolve => {
      receiver!.once('spawn', () => resolve(true))
      receiver!.once('error', () => resolve(false))
    })
    assert.ok(spawned, 'python3 is needed to listen on a unix datagram socket')
    for (let i = 0; i < 100 && !received.includes('bound'); i++) await sleep(50)
    assert.ok(received.includes('bound'), received)
    env = { ...process.env, NOTIFY_SOCKET: sock }
  })
  after(() => {
    receiver?.kill()
    rmSync(dir, { recursive: true, force: true })
  })

  test('READY=1, STATUS=, WATCHDOG=1 and STOPPING=1 arrive as sd_notify datagrams', async () => {
    assert.equal(await notifyReady('gateway ready', { env }), true)
    const wd = startWatchdog({ env: { ...env, WATCHDOG_USEC: '2000000', WATCHDOG_PID: String(process.pid) } })
    await sleep(200)
    wd.stop()
    assert.equal(await notifyStopping(undefined, { env }), true)
    await sleep(100)
    const messages = [...received.matchAll(/^'(.*)'$/gm)]
      .map(m => m[1]!.replaceAll('\\n', '\n'))
      .filter(m => m !== 'BARRIER=1')
    assert.deepEqual(messages, ['READY=1\nSTATUS=gateway ready', 'WATCHDOG=1', 'STOPPING=1'])
    assert.match(
      received,
      /'BARRIER=1'/,
      'systemd-notify synchronised with the receiver (the reason NotifyAccess=all is sound)'
    )
  })
})
