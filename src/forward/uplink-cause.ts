/**
 * An uplink error in words a technician acts on: what happened and what to check. The raw
 * kafkajs text (`KafkaJSNumberOfRetriesExceeded: Connection error: connect ECONNREFUSED …`)
 * stays available beside it for the people who read those.
 */

/** `host:port` named in an error message, if any. */
function addressIn(raw: string): string | null {
  const m = /((?:\d{1,3}\.){3}\d{1,3}|\[[0-9a-f:]+\]|[a-z0-9][a-z0-9.-]*\.[a-z]{2,}|localhost)(?::(\d{1,5}))/i.exec(raw)
  return m === null ? null : `${m[1]}:${m[2]}`
}

const at = (raw: string): string => {
  const a = addressIn(raw)
  return a === null ? '' : ` at ${a}`
}

/** One sentence: the cause, then the next step. */
export function uplinkCause(raw: string | null): string | null {
  if (raw === null || raw === '') return null
  if (/not connected yet/i.test(raw)) return 'No connection attempt has finished yet: wait a few seconds'
  if (/ECONNREFUSED/.test(raw))
    return `Kafka refused the connection${at(raw)}: check the address (kafka.brokers) and that Kafka is running`
  if (/ENOTFOUND|EAI_AGAIN|getaddrinfo/.test(raw)) {
    const host = /(?:ENOTFOUND|EAI_AGAIN)\s+(\S+)/.exec(raw)?.[1]
    return `The Kafka host name${host !== undefined ? ` ${host}` : ''} could not be resolved: check kafka.brokers and the gateway's DNS`
  }
  if (/EHOSTUNREACH|ENETUNREACH/.test(raw))
    return `No network route to Kafka${at(raw)}: check the gateway's network link and routing`
  if (/ECONNRESET|EPIPE|socket hang up|Closed connection/i.test(raw))
    return `Kafka${at(raw)} closed the connection: check Kafka's logs and whether TLS (kafka.ssl) matches the listener`
  if (/SASL|Authentication|authenticat/i.test(raw))
    return "Kafka rejected the gateway's credentials: check kafka.saslMechanism, user name and password"
  if (/certificate|SSL|TLS|self.signed|CERT_/i.test(raw))
    return 'The TLS handshake with Kafka failed: check kafka.ssl and the CA file (kafka.caFile)'
  if (/TOPIC_AUTHORIZATION|not authorized|Not authorized/i.test(raw))
    return "Kafka refused access to the topic: check the ACLs for the gateway's user"
  if (/UNKNOWN_TOPIC|does not host this topic|unknown topic/i.test(raw))
    return 'The Kafka topic does not exist: create it or check kafka.topic'
  if (/too large|MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/i.test(raw))
    return "Kafka refused a batch as too large: the gateway retries with smaller requests; check the broker's message.max.bytes"
  if (/NOT_ENOUGH_REPLICAS|NOT_LEADER|LEADER_NOT_AVAILABLE|leader/i.test(raw))
    return 'Kafka could not store the batch on enough replicas: check the Kafka cluster'
  if (/timed? ?out|ETIMEDOUT|Connection timeout/i.test(raw))
    return `Kafka${at(raw)} did not answer in time: check the network path, firewalls, and that Kafka is up`
  if (/no successful request recently/i.test(raw)) return 'No request to Kafka has succeeded lately: retrying'
  return 'The last request to Kafka failed: see the details, and check Kafka and the network'
}
