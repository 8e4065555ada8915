/** Topic and filter strings the broker accepts. */

/** Longest topic accepted, in characters. Every stored reading carries its topic. */
export const MAX_TOPIC_LENGTH = 1024
/** U+FFFD stands for bytes that were not UTF-8 (mqtt-packet decodes leniently); U+0000 is forbidden. [MQTT-1.5.3-1] [MQTT-1.5.3-2] */
export const BAD_TOPIC_CHARS = /[\u0000\uFFFD]/

/** The filter a `$share/<group>/<filter>` subscription matches; any other filter as it is. */
export function sharedFilter(filter: string): string {
  if (!filter.startsWith('$share/')) return filter
  const slash = filter.indexOf('/', 7)
  return slash < 0 ? filter : filter.slice(slash + 1)
}
