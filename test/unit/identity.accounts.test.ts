import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Accounts } from '../../src/identity/accounts.js'
import { memoryLogger } from './setup.js'

/** A hash in `holdfast hash-password`'s format (no secret matches it). */
const hash = (): string =>
  `scrypt$16384$8$1$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`

test("a remote configuration's new device list says whose secret was added, rotated or removed", () => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-accounts-'))
  const [a, b, c, fileC, d] = [hash(), hash(), hash(), hash(), hash()]
  // c's secret comes from the credentials file, which wins over the configuration.
  writeFileSync(join(dir, 'credentials.json'), JSON.stringify({ version: 1, devices: { c: { hash: fileC } } }))
  const accounts = new Accounts({
    devices: { a: { passwordHash: a }, b: { passwordHash: b }, c: { passwordHash: c }, gone: { passwordHash: hash() } },
    apps: {},
    dataDir: dir,
    log: memoryLogger().log
  })
  const take = accounts.reconfigure(
    { a: { passwordHash: a }, b: { passwordHash: hash() }, c: { passwordHash: hash() }, d: { passwordHash: d } },
    {}
  )
  assert.equal(accounts.lookup('d'), undefined, 'nothing changes before the swap')
  const changed = take()
  assert.deepEqual(changed.devices.sort(), ['b', 'd', 'gone'], 'a kept its secret; c is decided by the file')
  assert.equal(accounts.lookup('d')?.hash, d)
  assert.equal(accounts.lookup('c')?.hash, fileC)
  assert.equal(accounts.lookup('gone'), undefined)
  accounts.close()
})
