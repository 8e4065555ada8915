/**
 * Host facts read straight from /proc and /sys: the CPU load, the CPU's temperature and the network
 * interfaces. For these, systeminformation starts child processes on every call (currentLoad runs `cat
 * /proc/stat | grep cpu` synchronously; cpuTemperature sensors, vcgencmd, a shell loop over hwmon;
 * networkInterfaces ethtool, nmcli, iw...): 12 and 70 ms of CPU a call on the development machine for
 * the last two, a burst of processes every sample, several times the CPU on an ARM board. These reads
 * are a few files each.
 */
import { readdir, readFile } from 'node:fs/promises'
import { networkInterfaces } from 'node:os'
import type { HostFacts } from './host.js'

/**
 * The CPU load in % over all cores since the previous read (since boot for the first), from /proc/stat's
 * `cpu` line: the share of time neither idle nor waiting for I/O, as top counts it; and the number of
 * cores (its `cpuN` lines). null where /proc/stat cannot be read. `proc`: /proc, or a directory laid out
 * like it (tests).
 */
export class CpuLoad {
  private last: { busy: number; total: number } | null = null

  constructor(private readonly proc = '/proc') {}

  async read(): Promise<{ pct: number; cores: number } | null> {
    const stat = await text(`${this.proc}/stat`)
    if (stat === null) return null
    let all: number[] | null = null
    let cores = 0
    for (const line of stat.split('\n')) {
      if (line.startsWith('cpu ')) all = line.split(/\s+/).slice(1, 9).map(Number)
      else if (/^cpu\d/.test(line)) cores++
    }
    // user nice system idle iowait irq softirq steal (guest time is counted in user already)
    if (all === null || all.length < 4 || all.some(n => !Number.isFinite(n))) return null
    const total = all.reduce((a, b) => a + b, 0)
    const busy = total - all[3]! - (all[4] ?? 0)
    const prev = this.last
    this.last = { busy, total }
    const dt = prev === null ? total : total - prev.total
    const db = prev === null ? busy : busy - prev.busy
    return { pct: dt > 0 ? Math.min(100, Math.max(0, (100 * db) / dt)) : 0, cores }
  }
}

/** Thermal zones of the CPU or the SoC: cpu-thermal (Raspberry Pi), soc-thermal, x86_pkg_temp... */
const CPU_ZONE = /cpu|soc|pkg|core/i
/** hwmon sensors of the CPU: coretemp (Intel), k10temp / zenpower (AMD), cpu_thermal, soc... */
const CPU_HWMON = /coretemp|k10temp|zenpower|cpu|soc/i

async function text(path: string): Promise<string | null> {
  try {
    return (await readFile(path, 'utf8')).trim()
  } catch {
    return null
  }
}

async function entries(dir: string, prefix: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[])
  const n = (s: string): number => Number(s.slice(prefix.length))
  return names.filter(s => s.startsWith(prefix)).sort((a, b) => n(a) - n(b))
}

/** Degrees Celsius from a file in millidegrees; null when absent or not a plausible reading. */
function milli(s: string | null): number | null {
  if (s === null || s === '') return null
  const c = Number(s) / 1000
  return Number.isFinite(c) && c > -50 && c < 200 ? c : null
}

/**
 * The CPU's temperature in °C: a thermal zone of the CPU or SoC, else the first zone with a reading,
 * else a CPU sensor under hwmon; null where the board reports none (most virtual machines).
 * `sys`: /sys/class, or a directory laid out like it (tests).
 */
export async function readTemperature(sys = '/sys/class'): Promise<number | null> {
  let first: number | null = null
  for (const z of await entries(`${sys}/thermal`, 'thermal_zone')) {
    const c = milli(await text(`${sys}/thermal/${z}/temp`))
    if (c === null) continue
    if (CPU_ZONE.test((await text(`${sys}/thermal/${z}/type`)) ?? '')) return c
    first ??= c
  }
  if (first !== null) return first
  for (const h of await entries(`${sys}/hwmon`, 'hwmon')) {
    if (!CPU_HWMON.test((await text(`${sys}/hwmon/${h}/name`)) ?? '')) continue
    const c = milli(await text(`${sys}/hwmon/${h}/temp1_input`))
    if (c !== null) return c
  }
  return null
}

/**
 * The interfaces that have an address: the first IPv4 one, a global IPv6 one if there is one (else
 * the link-local), the link state (`operstate`: up, down, unknown...) and the link speed in Mbit/s
 * (null for virtual or down links). `sys`: as above.
 */
export async function readNetwork(sys = '/sys/class'): Promise<HostFacts['network']> {
  const out: HostFacts['network'] = []
  for (const [iface, addrs] of Object.entries(networkInterfaces())) {
    if (addrs === undefined || addrs.length === 0) continue
    const v4 = addrs.find(a => a.family === 'IPv4')
    const v6 =
      addrs.find(a => a.family === 'IPv6' && !a.address.toLowerCase().startsWith('fe80')) ??
      addrs.find(a => a.family === 'IPv6')
    const speed = Number((await text(`${sys}/net/${iface}/speed`)) ?? Number.NaN)
    out.push({
      iface,
      ip4: v4?.address ?? '',
      ip6: v6?.address ?? '',
      mac: addrs[0]!.mac,
      state: (await text(`${sys}/net/${iface}/operstate`)) || 'unknown',
      speedMbps: Number.isFinite(speed) && speed > 0 ? speed : null,
      internal: addrs[0]!.internal
    })
  }
  return out
}
