/**
 * An Uplinker whose close() waits for its requests in flight (bounded). When a new document
 * changes the Kafka settings, the forwarder swaps links while a produce request may be on its way
 * on the old one; closing that link at once would fail the request (and send the forwarder into
 * backoff) although it is about to be acknowledged. Its readings are released when the ack comes,
 * as usual; if it does not come, they stay buffered and go again over the new link.
 */
import type { Uplinker } from '../forward/producer.js'

export function closingWhenIdle(link: Uplinker, maxWaitMs: number): Uplinker {
  const inflight = new Set<Promise<unknown>>()
  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight.add(p)
    const forget = (): void => {
      inflight.delete(p)
    }
    p.then(forget, forget)
    return p
  }
  return {
    send: async (messages, compression) => await track(link.send(messages, compression)),
    probe: async () => await track(link.probe()),
    close: async () => {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.allSettled([...inflight]),
        new Promise(resolve => {
          timer = setTimeout(resolve, maxWaitMs)
        })
      ])
      clearTimeout(timer)
      await link.close()
    }
  }
}
