/**
 * systemd readiness and watchdog (sd_notify) without a native module.
 *
 * sd_notify is a datagram sent to the AF_UNIX socket named in $NOTIFY_SOCKET; Node cannot send
 * unix datagrams, so each message is handed to systemd's own `systemd-notify` tool. Because the
 * sender is then a child process and not the main PID, the unit needs `NotifyAccess=all`
 * (systemd/holdfast.service). systemd-notify (systemd >= 246) waits by default until the manager
 * has processed the message (a BARRIER=1 round trip), so the message is attributed to our unit
 * while the sender is still alive — the race that made this unreliable with older versions.
 *
 * Everything here is a no-op when $NOTIFY_SOCKET is unset (not started by systemd with
 * Type=notify): tests, `npm run demo`, containers.
 *
 * Watchdog pings come from a timer on the event loop, so they stop when the loop stalls — which
 * is what the watchdog is for. Interval: half of $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises.
 */
import { execFile } from 'node:child_process'

export interface SdNotifyOptions {
  /** Environment to read NOTIFY_SOCKET / WATCHDOG_USEC / WATCHDOG_PID from (default process.env). */
  env?: NodeJS.ProcessEnv
  /** The notify tool (default `systemd-notify`, looked up on PATH). */
  command?: string
  /** Called when the tool fails (not found, refused, timed out); default: ignore. */
  onError?: (err: Error) => void
}

export interface Watchdog {
  /** Ping interval in ms; 0 when the watchdog is not enabled for this process. */
  readonly intervalMs: number
  stop: () => void
}

// systemd-notify's own barrier wait is 5 s; never let a stuck helper live much longer.
const TOOL_TIMEOUT_MS = 10_000
const STATUS_MAX = 200

function socketOf(env: NodeJS.ProcessEnv): string | null {
  const s = env.NOTIFY_SOCKET
  return s === undefined || s === '' ? null : s
}

/** One-line STATUS= text: systemd shows it in `systemctl status`; newlines would split the message. */
function statusArg(text: string): string {
  return `--status=${text.replace(/[\r\n]+/g, ' ').slice(0, STATUS_MAX)}`
}

/** Run the notify tool with `args`; resolves true when it reported success, false otherwise (never rejects). */
export async function sdNotify(args: string[], opts: SdNotifyOptions = {}): Promise<boolean> {
  const env = opts.env ?? process.env
  if (socketOf(env) === null) return false
  return await new Promise<boolean>(resolve => {
    execFile(opts.command ?? 'systemd-notify', args, { env, timeout: TOOL_TIMEOUT_MS, windowsHide: true }, err => {
      if (err !== null) opts.onError?.(err)
      resolve(err === null)
    })
  })
}

/** READY=1: start-up finished (MQTT listening, buffer open). Call once, after the gateway is up. */
export async function notifyReady(status?: string, opts: SdNotifyOptions = {}): Promise<boolean> {
  return await sdNotify(['--ready', ...(status !== undefined ? [statusArg(status)] : [])], opts)
}

/** STOPPING=1: an orderly shutdown has begun (systemd then shows "deactivating"). */
export async function notifyStopping(status?: string, opts: SdNotifyOptions = {}): Promise<boolean> {
  return await sdNotify(['STOPPING=1', ...(status !== undefined ? [statusArg(status)] : [])], opts)
}

/** STATUS=…: free-form one-line status shown by `systemctl status`. */
export async function notifyStatus(status: string, opts: SdNotifyOptions = {}): Promise<boolean> {
  return await sdNotify([statusArg(status)], opts)
}

/**
 * The watchdog interval for this process in ms, or 0: like sd_watchdog_enabled(3), WATCHDOG_USEC
 * must be a positive integer and WATCHDOG_PID, when set, must be our own PID (a child that
 * inherited the variables must not ping for its parent).
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): number {
  if (socketOf(env) === null) return 0
  const usecText = env.WATCHDOG_USEC
  if (usecText === undefined || !/^[0-9]+$/.test(usecText)) return 0
  const usec = Number(usecText)
  if (!Number.isSafeInteger(usec) || usec <= 0) return 0
  const pidText = env.WATCHDOG_PID
  if (pidText !== undefined && pidText !== '' && Number(pidText) !== pid) return 0
  return Math.max(1, Math.floor(usec / 2000))
}

/**
 * Ping WATCHDOG=1 every WATCHDOG_USEC/2 until stop(). No-op handle (intervalMs 0) when systemd
 * asked for no watchdog. The timer is unref'd (it never keeps the process alive), and a ping is
 * skipped while the previous one is still running, so a slow system cannot pile up helpers.
 */
export function startWatchdog(opts: SdNotifyOptions & { pid?: number } = {}): Watchdog {
  const intervalMs = watchdogIntervalMs(opts.env ?? process.env, opts.pid ?? process.pid)
  if (intervalMs === 0) return { intervalMs: 0, stop: () => {} }
  let inFlight = false
  const ping = (): void => {
    if (inFlight) return
    inFlight = true
    void sdNotify(['WATCHDOG=1'], opts).finally(() => {
      inFlight = false
    })
  }
  ping()
  const timer = setInterval(ping, intervalMs)
  timer.unref()
  return { intervalMs, stop: () => clearInterval(timer) }
}
