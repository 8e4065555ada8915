import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { cgroupCpuLimit, usableCores } from '../../src/platform/cores.js'

/** A cgroup file system and membership file laid out in a temp folder, as the kernel shows them. */
function layout(t: { after: (fn: () => void) => void }, membership: string, files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'hf-cgroup-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const root = join(dir, 'sys/fs/cgroup')
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, file)), { recursive: true })
    writeFileSync(join(root, file), `${text}\n`)
  }
  writeFileSync(join(dir, 'cgroup'), `${membership}\n`)
  return { root, membership: join(dir, 'cgroup') }
}

test("cgroup v2: the tightest cpu.max on the process's cgroup and its parents, in whole cores (at least one)", t => {
  const unit = '0::/system.slice/holdfast.service'
  assert.equal(cgroupCpuLimit(layout(t, unit, { 'system.slice/holdfast.service/cpu.max': '150000 100000' })), 1)
  assert.equal(cgroupCpuLimit(layout(t, unit, { 'system.slice/holdfast.service/cpu.max': '50000 100000' })), 1)
  assert.equal(
    cgroupCpuLimit(
      layout(t, unit, {
        'system.slice/holdfast.service/cpu.max': '400000 100000',
        'system.slice/cpu.max': '300000 100000'
      })
    ),
    3,
    "a parent's quota caps the unit's"
  )
  assert.equal(cgroupCpuLimit(layout(t, unit, { 'system.slice/holdfast.service/cpu.max': 'max 100000' })), null)
  // In a container the cgroup namespace shows its own cgroup as the root.
  const container = layout(t, '0::/', { 'cpu.max': '100000 100000' })
  assert.equal(cgroupCpuLimit(container), 1)
  assert.equal(usableCores(container), 1, 'docker run --cpus=1 on any box: one core')
})

test('cgroup v1: cpu.cfs_quota_us over cpu.cfs_period_us, under cpu or cpu,cpuacct; -1 is no quota', t => {
  const docker = '12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc'
  assert.equal(
    cgroupCpuLimit(
      layout(t, docker, {
        'cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '200000',
        'cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000'
      })
    ),
    2
  )
  const plain = layout(t, '3:cpu:/', { 'cpu/cpu.cfs_quota_us': '-1', 'cpu/cpu.cfs_period_us': '100000' })
  assert.equal(cgroupCpuLimit(plain), null)
  assert.equal(usableCores(plain), availableParallelism(), 'no quota: the CPUs it may run on')
})

test('no cgroup files (not Linux, or /sys not mounted): no limit, and this machine has at least one core', t => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-cgroup-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  assert.equal(cgroupCpuLimit({ root: join(dir, 'none'), membership: join(dir, 'none') }), null)
  const here = usableCores()
  assert.ok(here >= 1 && here <= availableParallelism(), `${here} cores`)
})
