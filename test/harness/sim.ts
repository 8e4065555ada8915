/** The device simulator as a separate process, as a real fleet would be. */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { ROOT } from './gateway.js'

export const SIM = join(ROOT, 'dist/device-sim/sim.js')

export interface SimResult {
  stderr: string
  published: number
  acked: number
  failed: number
  unacked: number
  pubackP50Ms: number | null
  pubackP99Ms: number | null
}

export function startSim(args: string[]): { child: ChildProcess; result: Promise<SimResult> } {
  const child = spawn(process.execPath, [SIM, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.on('data', d => {
    out += d
  })
  child.stderr!.on('data', d => {
    err += d
  })
  const result = new Promise<SimResult>((resolve, reject) => {
    child.once('exit', code => {
      const last = out.trim().split('\n').pop() ?? ''
      try {
        resolve({ ...JSON.parse(last), stderr: err.slice(-4000) } as SimResult)
      } catch {
        reject(new Error(`sim exited ${code}: ${out}\n${err.slice(-2000)}`))
      }
    })
  })
  return { child, result }
}
