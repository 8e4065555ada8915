/**
 * Client-certificate identity on the TLS listener: a certificate signed by `mqtt.tls.caFile` names
 * its device (or app) by its subject CN or, when the CN is not a valid id, by its first DNS or URI
 * subjectAltName that is one. Unverified certificates name nobody.
 */
import { TLSSocket } from 'node:tls'
import { isValidDeviceId } from '../codec/reading.js'

export type CertIdentity = { id: string } | { error: 'unverified' | 'no-id'; detail: string } | null

/** null when the connection is not TLS or presented no certificate. */
export function certIdentity(conn: unknown): CertIdentity {
  if (!(conn instanceof TLSSocket)) return null
  const cert = conn.getPeerCertificate()
  if (cert === null || cert === undefined || Object.keys(cert).length === 0) return null
  if (!conn.authorized)
    return { error: 'unverified', detail: String(conn.authorizationError ?? 'not signed by mqtt.tls.caFile') }
  const cn = cert.subject?.CN as string | string[] | undefined
  const cns = Array.isArray(cn) ? cn : cn === undefined ? [] : [cn]
  if (cns.length === 1 && isValidDeviceId(cns[0]!)) return { id: cns[0]! }
  for (const san of (cert.subjectaltname ?? '').split(',')) {
    const m = /^\s*(DNS|URI):(.+?)\s*$/.exec(san)
    if (m !== null && isValidDeviceId(m[2]!)) return { id: m[2]! }
  }
  return { error: 'no-id', detail: `subject CN ${JSON.stringify(cn ?? null)} and subjectAltName name no valid id` }
}
