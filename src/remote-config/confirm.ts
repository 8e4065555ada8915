/** Commit-confirmed: ask the uplink (a metadata request) once a second until it answers or the window ends. */
import { sleep } from '../kafka/client.js'

/** How often, within the confirmation window, the uplink is asked. */
const CONFIRM_PROBE_MS = 1000

export type Confirmation = { ok: true } | { ok: false; lastError: string } | null

/**
 * Resolves `{ ok: true }` when the uplink answered, `{ ok: false, lastError }` when `deadline`
 * passed first, or null when `still()` turned false (the change was superseded or the gateway stops).
 * `failed` is called after each failed probe (a rollback is becoming likely).
 */
export async function awaitUplink(
  test: () => Promise<{ ok: boolean; error?: string }>,
  deadline: number,
  still: () => boolean,
  failed: () => void = () => {}
): Promise<Confirmation> {
  let lastError = 'no answer yet'
  while (still()) {
    const left = deadline - Date.now()
    if (left <= 0) return { ok: false, lastError }
    const started = Date.now()
    const r = await Promise.race([test(), sleep(left).then(() => null)])
    if (r?.ok === true) return { ok: true }
    if (r !== null) {
      lastError = r.error ?? 'failed'
      failed()
    }
    await sleep(Math.max(0, Math.min(CONFIRM_PROBE_MS - (Date.now() - started), deadline - Date.now())))
  }
  return null
}
