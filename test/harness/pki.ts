/** A throwaway PKI made with the openssl CLI for TLS tests: CAs and certificates signed by them, as PEM files. */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

export class Pki {
  readonly dir = mkdtempSync(join(tmpdir(), 'hf-pki-'))

  private ssl(...args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] })
  }

  /** A self-signed CA `<name>.crt` / `<name>.key`. */
  ca(name: string): this {
    this.ssl(
      'req',
      '-x509',
      ...EC,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-subj',
      `/CN=${name}`,
      '-days',
      '2'
    )
    return this
  }

  /** A certificate `<name>.crt` / `<name>.key` (PKCS#8 key) signed by CA `ca`, with an optional subjectAltName. */
  issue(name: string, ca: string, subject: string, san?: string): this {
    this.ssl('req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject)
    const ext = join(this.dir, `${name}.ext`)
    writeFileSync(ext, san !== undefined ? `subjectAltName=${san}\n` : 'basicConstraints=CA:FALSE\n')
    this.ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-extfile',
      ext
    )
    return this
  }

  path(file: string): string {
    return join(this.dir, file)
  }

  pem(file: string): Buffer {
    return readFileSync(join(this.dir, file))
  }
}
