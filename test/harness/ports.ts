/**
 * Free loopback ports for test processes (gateways, Kafka brokers, Mosquitto).
 *
 * Candidates come from below the kernel's ephemeral range and are verified by listening on them.
 * A port from listen(0) lies inside that range, where the kernel may hand the very same port to an
 * outgoing client connection of a test running beside it before the process meant for it binds
 * ("address already in use"; CI saw it), or while a broker is stopped for an outage test.
 *
 * A port handed out stays reserved for the process that asked (a file named for it, holding that
 * process's id, removed when it exits) and no other test process picks it: a broker or gateway
 * stopped for an outage test restarts on its ports, which a test beside it took meanwhile before
 * (CI saw Kafka's controller port taken during an outage).
 */
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const RESERVED = join(tmpdir(), 'holdfast-test-ports')
const mine = new Set<number>()

/** Reserved by a live process (this one included). */
function reserved(port: number): boolean {
  let pid: number
  try {
    pid = Number(readFileSync(join(RESERVED, String(port)), 'utf8'))
  } catch {
    return false
  }
  if (!(pid > 0)) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function reserve(port: number): void {
  try {
    mkdirSync(RESERVED, { recursive: true })
    writeFileSync(join(RESERVED, String(port)), String(process.pid))
    if (mine.size === 0)
      process.once('exit', () => {
        for (const p of mine)
          try {
            unlinkSync(join(RESERVED, String(p)))
          } catch {}
      })
    mine.add(port)
  } catch {
    // Best effort: without the file the port is still free right now.
  }
}

function tryListen(port: number): Promise<net.Server | null> {
  return new Promise(resolve => {
    const srv = net.createServer()
    srv.once('error', () => resolve(null))
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(srv))
  })
}

function closeServer(srv: net.Server): Promise<void> {
  return new Promise(resolve => srv.close(() => resolve()))
}

function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    if (lo && hi) return [lo, hi]
  } catch {
    /* not Linux */
  }
  return [32768, 60999]
}

/** `n` distinct ports free on 127.0.0.1 right now, below the ephemeral range (falls back to listen(0)). */
export async function pickPorts(n: number): Promise<number[]> {
  const [ephLo] = ephemeralRange()
  const lo = 15000
  const hi = ephLo - 1
  const held: net.Server[] = []
  const ports: number[] = []
  try {
    for (let attempt = 0; ports.length < n && attempt < 200; attempt++) {
      const port = hi > lo + 1000 ? lo + Math.floor(Math.random() * (hi - lo)) : 0
      if (port !== 0 && reserved(port)) continue
      const srv = await tryListen(port)
      if (!srv) continue
      const got = (srv.address() as net.AddressInfo).port
      if (ports.includes(got)) {
        await closeServer(srv)
        continue
      }
      held.push(srv)
      ports.push(got)
      // Written while the port is held, so no other process can take it in between.
      reserve(got)
    }
    while (ports.length < n) {
      const srv = await tryListen(0)
      if (!srv) throw new Error('ports: cannot bind any port on 127.0.0.1')
      held.push(srv)
      ports.push((srv.address() as net.AddressInfo).port)
    }
    return ports
  } finally {
    await Promise.all(held.map(closeServer))
  }
}

/** One TCP port free on 127.0.0.1 right now (see pickPorts). */
export async function freePort(): Promise<number> {
  return (await pickPorts(1))[0]!
}
