/**
 * Password checks share libuv's thread pool with the commit worker's WAL fdatasync, which PUBACKs wait
 * for: a reconnect storm's checks must leave pool threads free. Real scrypt, a real fdatasync of a file.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { closeSync, fdatasync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SCRYPT_ON_POOL, verifySecret } from '../../src/identity/secret.js'

test('an fdatasync asked while 12 password checks wait finishes before any of them: they leave pool threads free', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-secret-pool-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const fd = openSync(join(dir, 'wal'), 'w')
  t.after(() => closeSync(fd))
  writeSync(fd, randomBytes(4096))
  // The checks may hold at most half of the pool's threads (node's default 4 here).
  assert.equal(process.env.UV_THREADPOOL_SIZE ?? '4', '4')
  assert.ok(SCRYPT_ON_POOL >= 1 && SCRYPT_ON_POOL <= 2)
  const hash = `scrypt$16384$8$1$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`
  let checked = 0
  const checks = Array.from({ length: 12 }, async () => {
    const ok = await verifySecret('wrong', hash)
    checked++
    return ok
  })
  const checkedAtSync = await new Promise<number>((resolve, reject) =>
    fdatasync(fd, err => (err === null ? resolve(checked) : reject(err)))
  )
  assert.equal(checkedAtSync, 0, 'the sync did not wait behind a password check')
  assert.deepEqual(await Promise.all(checks), Array(12).fill(false))
})
