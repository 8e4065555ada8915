import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { CpuLoad, readNetwork, readTemperature } from '../../src/metrics/host-read.js'

/** A directory laid out like /sys/class with the given files (path → content). */
function fakeSys(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'hf-sys-'))
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true })
    writeFileSync(join(root, path), `${content}\n`)
  }
  return root
}

test('the temperature: a CPU or SoC thermal zone before the others, else the first zone with a reading, else a CPU hwmon sensor, else none', async t => {
  const cases: Array<[string, Record<string, string>, number | null]> = [
    [
      'a CPU zone after another zone (zone 10 sorts after zone 2)',
      {
        'thermal/thermal_zone2/type': 'acpitz',
        'thermal/thermal_zone2/temp': '40000',
        'thermal/thermal_zone10/type': 'x86_pkg_temp',
        'thermal/thermal_zone10/temp': '52500'
      },
      52.5
    ],
    ['a Raspberry Pi', { 'thermal/thermal_zone0/type': 'cpu-thermal', 'thermal/thermal_zone0/temp': '48312' }, 48.312],
    [
      'no CPU zone: the first with a reading',
      {
        'thermal/thermal_zone0/type': 'acpitz',
        'thermal/thermal_zone0/temp': '',
        'thermal/thermal_zone1/type': 'acpitz',
        'thermal/thermal_zone1/temp': '39000'
      },
      39
    ],
    [
      'an implausible CPU zone is skipped for a hwmon sensor',
      {
        'thermal/thermal_zone0/type': 'cpu-thermal',
        'thermal/thermal_zone0/temp': '-273000',
        'hwmon/hwmon0/name': 'nvme',
        'hwmon/hwmon0/temp1_input': '30000',
        'hwmon/hwmon1/name': 'coretemp',
        'hwmon/hwmon1/temp1_input': '61000'
      },
      61
    ],
    ['nothing reported (a virtual machine)', { 'hwmon/hwmon0/name': 'nvme', 'hwmon/hwmon0/temp1_input': '30000' }, null]
  ]
  for (const [name, files, want] of cases) {
    const sys = fakeSys(files)
    t.after(() => rmSync(sys, { recursive: true, force: true }))
    assert.equal(await readTemperature(sys), want, name)
  }
  assert.equal(await readTemperature(join(tmpdir(), 'hf-no-such-sys')), null, 'no /sys at all')
})

test('the network interfaces: every interface with an address, its link state and speed from /sys (null when virtual or down)', async t => {
  const real = Object.entries(networkInterfaces()).filter(([, a]) => a !== undefined && a.length > 0)
  assert.ok(real.length > 0, 'this machine has at least the loopback interface')
  const [first, second] = real.map(([name]) => name)
  const files: Record<string, string> = { [`net/${first}/operstate`]: 'up', [`net/${first}/speed`]: '1000' }
  if (second !== undefined) Object.assign(files, { [`net/${second}/operstate`]: 'down', [`net/${second}/speed`]: '-1' })
  const sys = fakeSys(files)
  t.after(() => rmSync(sys, { recursive: true, force: true }))
  const got = await readNetwork(sys)
  assert.deepEqual(
    got.map(n => n.iface),
    real.map(([name]) => name)
  )
  for (const [name, addrs] of real) {
    const n = got.find(x => x.iface === name)!
    assert.equal(n.ip4, addrs!.find(a => a.family === 'IPv4')?.address ?? '', `${name} ip4`)
    assert.equal(n.mac, addrs![0]!.mac, `${name} mac`)
    assert.equal(n.internal, addrs![0]!.internal, `${name} internal`)
    const v6 = addrs!.filter(a => a.family === 'IPv6').map(a => a.address)
    if (v6.length === 0) assert.equal(n.ip6, '', `${name} ip6`)
    else
      assert.ok(v6.includes(n.ip6) && (!n.ip6.startsWith('fe80') || v6.every(a => a.startsWith('fe80'))), `${name} ip6`)
  }
  assert.equal(got[0]!.state, 'up')
  assert.equal(got[0]!.speedMbps, 1000)
  if (second !== undefined) {
    assert.equal(got[1]!.state, 'down')
    assert.equal(got[1]!.speedMbps, null)
  }
  for (const n of got.slice(2)) {
    assert.equal(n.state, 'unknown', `${n.iface}: no operstate file`)
    assert.equal(n.speedMbps, null, `${n.iface}: no speed file`)
  }
})

test('the CPU load: busy time over all time since the previous read (since boot for the first), idle and I/O wait not busy; the cores counted', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-proc-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  // user nice system idle iowait irq softirq steal guest guest_nice
  const stat = (all: number[]): string =>
    [`cpu  ${all.join(' ')} 7 0`, 'cpu0 1 1 1 1 1 1 1 1 0 0', 'cpu1 1 1 1 1 1 1 1 1 0 0', 'intr 123', 'ctxt 456'].join(
      '\n'
    )
  writeFileSync(join(dir, 'stat'), stat([100, 0, 50, 800, 50, 0, 0, 0]))
  const load = new CpuLoad(dir)
  assert.deepEqual(await load.read(), { pct: 15, cores: 2 }, 'since boot: 150 busy of 1,000')
  // 60 more busy (user 40, system 10, softirq 5, steal 5), 40 more idle and 100 more waiting for I/O
  writeFileSync(join(dir, 'stat'), stat([140, 0, 60, 840, 150, 0, 5, 5]))
  assert.deepEqual(await load.read(), { pct: 30, cores: 2 }, '60 busy of 200 since the last read')
  assert.deepEqual(await load.read(), { pct: 0, cores: 2 }, 'no time passed')
  writeFileSync(join(dir, 'stat'), 'intr 1\n')
  assert.equal(await load.read(), null, 'no cpu line')
  assert.equal(await new CpuLoad(join(dir, 'none')).read(), null, 'no /proc')
  const real = await new CpuLoad().read()
  assert.ok(real !== null && real.pct >= 0 && real.pct <= 100, 'this machine')
  assert.equal(real!.cores, cpus().length)
})
