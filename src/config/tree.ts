/** Configuration documents as plain JSON trees: objects (never arrays) addressed by dotted paths. */

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** The value at a dotted path (`mqtt.port`), or undefined where the tree has none. */
export const getPath = (o: Record<string, unknown>, path: string): unknown =>
  path.split('.').reduce<unknown>((cur, k) => (isObject(cur) ? cur[k] : undefined), o)

/** Set the value at a dotted path, making (or replacing non-objects with) the sections on the way. */
export function setPath(o: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.')
  let cur = o
  for (const k of keys.slice(0, -1)) {
    if (!isObject(cur[k])) cur[k] = {}
    cur = cur[k] as Record<string, unknown>
  }
  cur[keys[keys.length - 1]!] = value
}
