import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { encodeBatch } from '../src/codec/batch.js'
import { packMetadata } from '../src/codec/metadata.js'

/**
 * A consumer project next to the repository, depending on it the way `"holdfast": "file:…"` does
 * (npm links the folder into node_modules), importing the public surface by package name.
 */
const run = promisify(execFile)
const root = fileURLToPath(new URL('../..', import.meta.url))
let dir = ''

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hf-consumer-'))
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', type: 'module', private: true, dependencies: { holdfast: `file:${root}` } })
  )
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(root, join(dir, 'node_modules', 'holdfast'), 'dir')
})
after(() => rmSync(dir, { recursive: true, force: true }))

test('a consumer imports the batch codec as holdfast/codec and decodes a batch the gateway encoded, MQTT 5 metadata included', async () => {
  const message = encodeBatch(
    'plant-7-gw1',
    [
      {
        seq: 41,
        device: 'press-12',
        topic: 'devices/press-12/telemetry',
        payload: Buffer.from('{"ts":1760000000000,"bar":4.5}'),
        recvMs: 1_760_000_000_010,
        eventMs: 1_760_000_000_000,
        qos: 1
      },
      {
        seq: 42,
        device: 'press-12',
        topic: 'devices/press-12/telemetry',
        payload: Buffer.from('{"bar":4.6}'),
        recvMs: 1_760_000_000_020,
        eventMs: null,
        qos: 1,
        props: packMetadata('application/json', [['site', 'plant-7']])
      }
    ],
    { cls: 'telemetry' }
  )
  writeFileSync(join(dir, 'batch.bin'), message.value)
  writeFileSync(join(dir, 'headers.json'), JSON.stringify(message.headers))
  writeFileSync(
    join(dir, 'consume.mjs'),
    `import { readFileSync } from 'node:fs'
import { decodeBatch, FORMAT_VERSION, FORMAT_VERSION_METADATA, isHoldfastError } from 'holdfast/codec'
const readings = decodeBatch(readFileSync('batch.bin'), JSON.parse(readFileSync('headers.json', 'utf8')))
let refused = null
try { decodeBatch(Buffer.from('not a batch')) } catch (err) { refused = isHoldfastError(err) ? err.code : 'other' }
console.log(JSON.stringify({ FORMAT_VERSION, FORMAT_VERSION_METADATA, refused, readings: readings.map(r => ({ ...r, payload: r.payload.toString() })) }))
`
  )
  const { stdout } = await run(process.execPath, ['consume.mjs'], { cwd: dir })
  const out = JSON.parse(stdout)
  assert.equal(out.FORMAT_VERSION, 2)
  assert.equal(out.FORMAT_VERSION_METADATA, 3, 'a batch with MQTT 5 metadata is version 3')
  assert.equal(out.refused, 'HF_ERR_DECODE')
  assert.deepEqual(out.readings, [
    {
      eventId: 'plant-7-gw1:41',
      gatewayId: 'plant-7-gw1',
      seq: 41,
      device: 'press-12',
      topic: 'devices/press-12/telemetry',
      payload: '{"ts":1760000000000,"bar":4.5}',
      recvMs: 1_760_000_000_010,
      eventMs: 1_760_000_000_000,
      qos: 1,
      kind: 'raw',
      lane: 'backlog',
      cls: 'telemetry'
    },
    {
      eventId: 'plant-7-gw1:42',
      gatewayId: 'plant-7-gw1',
      seq: 42,
      device: 'press-12',
      topic: 'devices/press-12/telemetry',
      payload: '{"bar":4.6}',
      recvMs: 1_760_000_000_020,
      eventMs: null,
      qos: 1,
      kind: 'raw',
      lane: 'backlog',
      cls: 'telemetry',
      metadata: { userProperties: [['site', 'plant-7']], contentType: 'application/json' }
    }
  ])
})

test('only the public surfaces are exported: the gateway internals are not importable by package path', async () => {
  writeFileSync(
    join(dir, 'internal.mjs'),
    `try { await import('holdfast/dist/src/store/buffer.js'); console.log('imported') } catch (err) { console.log(err.code) }`
  )
  const { stdout } = await run(process.execPath, ['internal.mjs'], { cwd: dir })
  assert.equal(stdout.trim(), 'ERR_PACKAGE_PATH_NOT_EXPORTED')
})

test('a TypeScript consumer gets the codec types from holdfast/codec', async () => {
  writeFileSync(
    join(dir, 'consume.ts'),
    `import { decodeBatch, type DecodedReading } from 'holdfast/codec'
export function firstSeq(value: Buffer): number {
  const readings: DecodedReading[] = decodeBatch(value)
  return readings[0]?.seq ?? -1
}
// @ts-expect-error decodeBatch takes the message value (bytes), not a string: the types are real
decodeBatch('not bytes')
`
  )
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck']
  const r = await run(
    process.execPath,
    [tsc, ...args, '--types', 'node', '--typeRoots', join(root, 'node_modules', '@types'), 'consume.ts'],
    { cwd: dir }
  ).then(
    () => ({ code: 0, out: '' }),
    (err: { code: number; stdout: string }) => ({ code: err.code, out: err.stdout })
  )
  assert.equal(r.code, 0, r.out)
})
