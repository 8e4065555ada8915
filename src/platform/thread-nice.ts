/**
 * A worker thread's own nice value. On Linux each thread has one, and setpriority() takes the
 * thread's id (from /proc/thread-self). Where that fails, the thread keeps the process's priority.
 */
import { readlinkSync } from 'node:fs'
import { setPriority } from 'node:os'

export function niceThisThread(nice: number): void {
  try {
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), nice)
  } catch {}
}
