/**
 * How many cores the process may use: the CPUs it may run on (taskset, cpuset: node's
 * availableParallelism) capped by its cgroup's CPU quota (`docker run --cpus`, systemd's `CPUQuota=`),
 * which availableParallelism ignores. A container limited to one CPU on a four-core box has one core's
 * time, not four. Read once at start (a few small files), never while devices are served.
 */
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

/** Where the files are (tests give a folder laid out the same way). */
export interface CgroupFiles {
  /** The cgroup file system's mount point. */
  root: string
  /** The process's cgroup membership (/proc/self/cgroup). */
  membership: string
}

const HOST: CgroupFiles = { root: '/sys/fs/cgroup', membership: '/proc/self/cgroup' }

const read = (file: string): string | null => {
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    return null
  }
}

/** A quota as whole cores, at least one; null when there is none. */
const cores = (quota: number, period: number): number | null =>
  Number.isFinite(quota) && quota > 0 && Number.isFinite(period) && period > 0
    ? Math.max(1, Math.floor(quota / period))
    : null

/** `path` and each of its parents up to the root, deepest first: a parent's quota caps its children. */
const lineage = (path: string): string[] => {
  const parts = path.split('/').filter(Boolean)
  const out: string[] = []
  for (let i = parts.length; i >= 0; i--) out.push(parts.slice(0, i).join('/'))
  return out
}

/** The tightest CPU quota on the process's cgroup and its parents, in cores; null when none is set. */
export function cgroupCpuLimit(files: CgroupFiles = HOST): number | null {
  const membership = read(files.membership)
  if (membership === null) return null
  let limit: number | null = null
  const tighter = (n: number | null): void => {
    if (n !== null && (limit === null || n < limit)) limit = n
  }
  for (const line of membership.split('\n')) {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? []
    if (controllers === undefined || path === undefined) continue
    if (controllers === '') {
      // cgroup v2: "<quota|max> <period>" in cpu.max.
      for (const dir of lineage(path)) {
        const [quota, period] = (read(`${files.root}/${dir}/cpu.max`.replace(/\/+/g, '/')) ?? '').split(' ')
        if (quota !== undefined && quota !== 'max') tighter(cores(Number(quota), Number(period)))
      }
    } else if (controllers.split(',').includes('cpu')) {
      // cgroup v1: cpu.cfs_quota_us (-1: none) over cpu.cfs_period_us, mounted as cpu or cpu,cpuacct.
      for (const mount of [controllers, 'cpu', 'cpu,cpuacct'])
        for (const dir of lineage(path)) {
          const base = `${files.root}/${mount}/${dir}/`.replace(/\/+/g, '/')
          const quota = read(`${base}cpu.cfs_quota_us`)
          if (quota !== null) tighter(cores(Number(quota), Number(read(`${base}cpu.cfs_period_us`))))
        }
    }
  }
  return limit
}

/** Cores this process may use: the CPUs it may run on, capped by its cgroup's quota. */
export function usableCores(files: CgroupFiles = HOST): number {
  const limit = cgroupCpuLimit(files)
  return limit === null ? availableParallelism() : Math.min(availableParallelism(), limit)
}
