/**
 * The JSON text of the status document without holding the broker's thread for a big fleet. The
 * caller captures the document at once (one instant: the device rows and the counters agree); here its
 * device rows are stringified a slice at a time, yielding to MQTT between slices. The text is the one
 * JSON.stringify gives for the whole document, in pieces.
 */
import { randomBytes } from 'node:crypto'
import { setImmediate as yieldToIo } from 'node:timers/promises'

/** Device rows stringified between two yields (~90 KB of /api/status rows). */
export const ROWS_PER_SLICE = 100

/**
 * `doc` as JSON text in pieces, each made by `piece` (scrubbed, encoded): the document up to its
 * `devices`, then the rows a slice at a time (each cut by `row` first), then the rest. Pieces end
 * between rows, so a scrubber sees every value whole.
 */
export async function documentText<R, T>(
  doc: { devices: readonly R[] },
  row: ((r: R) => unknown) | null,
  piece: (text: string) => T
): Promise<T[]> {
  const placeholder = `hf-devices-${randomBytes(12).toString('hex')}`
  const marker = JSON.stringify(placeholder)
  const whole = JSON.stringify({ ...doc, devices: placeholder })
  const at = whole.indexOf(marker)
  const rows = doc.devices
  const out = [piece(`${whole.slice(0, at)}[`)]
  for (let i = 0; i < rows.length; i += ROWS_PER_SLICE) {
    await yieldToIo()
    const part = rows.slice(i, i + ROWS_PER_SLICE)
    const text = JSON.stringify(row === null ? part : part.map(row)).slice(1, -1)
    out.push(piece(i === 0 ? text : `,${text}`))
  }
  out.push(piece(`]${whole.slice(at + marker.length)}`))
  return out
}
