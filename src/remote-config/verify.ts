/**
 * Ed25519 signatures over a document's canonical JSON (node:crypto, no dependency). Keys are
 * named by a key id, the first 16 hex digits of the SHA-256 of their SPKI DER, so a gateway can
 * tell "signed by a key I do not trust" from "signed by a trusted key, but the bytes were changed".
 */
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Config } from '../config/schema.js'
import { configError, type FieldError } from '../config/load.js'
import { canonicalJson, type SignedDocument } from './document.js'
import { isObject } from '../config/tree.js'

/** DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 key bytes follow. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const PEM_BLOCK = /-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\s]+?-----END PUBLIC KEY-----/g

export interface TrustedKey {
  id: string
  key: KeyObject
}

/** Why a pushed document's envelope or signature was refused (before its content is looked at). */
export type SignatureRejectReason = 'malformed' | 'unsigned' | 'untrusted_key' | 'bad_signature'
export type Verdict =
  | { ok: true; document: unknown; keyId: string }
  | { ok: false; reason: SignatureRejectReason; message: string; document?: unknown }

/** A public key from PEM, base64 SPKI DER or base64 of the 32 raw bytes. Throws on anything else. */
export function parsePublicKey(text: string): KeyObject {
  const t = text.trim()
  const key = t.startsWith('-----BEGIN')
    ? createPublicKey(t)
    : (() => {
        const der = Buffer.from(t, 'base64')
        return createPublicKey({
          key: der.length === 32 ? Buffer.concat([SPKI_PREFIX, der]) : der,
          format: 'der',
          type: 'spki'
        })
      })()
  if (key.asymmetricKeyType !== 'ed25519')
    throw new Error(`not an Ed25519 key (${key.asymmetricKeyType ?? 'unknown type'})`)
  return key
}

/** Base64 of the key's SPKI DER: one line, what `remote.trustedKeys` takes. */
export function publicKeyText(key: KeyObject): string {
  return key.export({ format: 'der', type: 'spki' }).toString('base64')
}

export function keyIdOf(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ format: 'der', type: 'spki' }))
    .digest('hex')
    .slice(0, 16)
}

/** The keys in `remote.trustedKeys` and `remote.trustedKeysFile`; a key that does not parse is a config error naming it. */
export function loadTrustedKeys(remote: Config['remote']): TrustedKey[] {
  const errors: FieldError[] = []
  const out = new Map<string, TrustedKey>()
  const add = (text: string, field: string, source: string): void => {
    try {
      const key = parsePublicKey(text)
      const id = keyIdOf(key)
      out.set(id, { id, key })
    } catch (err) {
      errors.push({ field, source, message: `not a usable Ed25519 public key: ${(err as Error).message}` })
    }
  }
  remote.trustedKeys.forEach((k, i) => add(k, `remote.trustedKeys[${i}]`, 'config'))
  if (remote.trustedKeysFile !== '') {
    let text = ''
    try {
      text = readFileSync(remote.trustedKeysFile, 'utf8')
    } catch (err) {
      errors.push({
        field: 'remote.trustedKeysFile',
        source: remote.trustedKeysFile,
        message: `cannot read: ${(err as Error).message}`
      })
    }
    const pems = text.match(PEM_BLOCK) ?? []
    pems.forEach((p, i) => add(p, `remote.trustedKeysFile (key ${i + 1})`, remote.trustedKeysFile))
    const rest = text
      .replace(PEM_BLOCK, '')
      .split('\n')
      .map(l => l.trim())
      .filter(l => l !== '' && !l.startsWith('#'))
    rest.forEach((l, i) => add(l, `remote.trustedKeysFile (line key ${i + 1})`, remote.trustedKeysFile))
  }
  if (remote.enabled && errors.length === 0 && out.size === 0) {
    errors.push({
      field: 'remote.trustedKeys',
      source: 'config',
      message: 'remote.enabled needs at least one trusted public key (remote.trustedKeys or remote.trustedKeysFile)'
    })
  }
  if (errors.length > 0) throw configError(errors)
  return [...out.values()]
}

export function signDocument(document: Record<string, unknown>, privateKey: KeyObject): SignedDocument {
  const publicKey = createPublicKey(privateKey)
  const value = sign(null, Buffer.from(canonicalJson(document)), privateKey).toString('base64')
  return {
    document: document as unknown as SignedDocument['document'],
    signature: { alg: 'ed25519', keyId: keyIdOf(publicKey), value }
  }
}

/** Check a config-topic message value: JSON, signed, by a trusted key, unchanged. Says which of these failed. */
export function verifyMessage(value: Buffer, keys: readonly TrustedKey[]): Verdict {
  let wire: unknown
  try {
    wire = JSON.parse(value.toString('utf8'))
  } catch (err) {
    return { ok: false, reason: 'malformed', message: `not JSON: ${(err as Error).message}` }
  }
  if (!isObject(wire) || !isObject(wire.document))
    return { ok: false, reason: 'malformed', message: 'expected {"document": {…}, "signature": {…}}' }
  const document = wire.document
  const s = wire.signature
  if (s === undefined || s === null)
    return { ok: false, reason: 'unsigned', message: 'the document carries no signature', document }
  if (!isObject(s) || s.alg !== 'ed25519' || typeof s.keyId !== 'string' || typeof s.value !== 'string') {
    return {
      ok: false,
      reason: 'bad_signature',
      message: 'signature must be {"alg":"ed25519","keyId":"…","value":"<base64>"}',
      document
    }
  }
  const trusted = keys.find(k => k.id === s.keyId)
  if (trusted === undefined)
    return {
      ok: false,
      reason: 'untrusted_key',
      message: `signed by key ${s.keyId}, which this gateway does not trust`,
      document
    }
  const sig = Buffer.from(s.value, 'base64')
  let good = false
  try {
    good = sig.length === 64 && verify(null, Buffer.from(canonicalJson(document)), trusted.key, sig)
  } catch {}
  if (!good)
    return {
      ok: false,
      reason: 'bad_signature',
      message: `the signature does not match the document (key ${s.keyId})`,
      document
    }
  return { ok: true, document, keyId: trusted.id }
}
