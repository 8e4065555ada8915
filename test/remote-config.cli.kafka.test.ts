import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { useKafka, type KafkaBroker } from './harness/kafka.js'
import { GatewayProcess, runCli } from './harness/gateway.js'
import { createTopic, StatusTopic, topicName, waitFor } from './harness/remote.js'

let kafka: KafkaBroker
before(async () => {
  kafka = await useKafka()
})
after(async () => {
  await kafka?.dispose()
})

test('holdfast fleet keygen, sign, push (one gateway and the fleet default) and status, end to end', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-rc-cli-'))
  const topic = topicName('telemetry')
  const configTopic = topicName('config')
  const statusTopic = topicName('status')
  await createTopic(kafka, topic)
  const status = await StatusTopic.open(kafka, statusTopic)

  const keyFile = join(dir, 'operator.key')
  const kg = await runCli(['fleet', 'keygen', '--key', keyFile])
  assert.equal(kg.code, 0, kg.stderr)
  const publicKey = kg.stdout.trim()
  assert.match(publicKey, /^MCowBQYDK2VwAyEA[A-Za-z0-9+/]{43}=$/)
  assert.equal(statSync(keyFile).mode & 0o777, 0o600, 'the private key is readable by its owner only')
  const again = await runCli(['fleet', 'keygen', '--key', keyFile])
  assert.equal(again.code, 2, 'an operator key is never overwritten')
  assert.match(again.stderr, /exists/)

  // Two gateways trusting the key, started with the local file only.
  const local = join(dir, 'local.json')
  writeFileSync(
    local,
    JSON.stringify({
      kafka: { brokers: kafka.brokers, topic, requestTimeoutMs: 2000 },
      remote: { enabled: true, configTopic, statusTopic, trustedKeys: [publicKey], heartbeatIntervalMs: 1500 }
    })
  )
  const gwA = await GatewayProcess.start({ args: ['--config', local, '--gateway-id', 'gw-a'] })
  const gwB = await GatewayProcess.start({ args: ['--config', local, '--gateway-id', 'gw-b'] })
  try {
    const desired = (lingerMs: number): string => {
      const file = join(dir, `desired-${lingerMs}.json`)
      writeFileSync(
        file,
        JSON.stringify({ kafka: { brokers: kafka.brokers, topic, requestTimeoutMs: 2000 }, batch: { lingerMs } })
      )
      return file
    }
    const sign = async (gateway: string, version: number, file: string) => {
      const r = await runCli([
        'fleet',
        'sign',
        '--key',
        keyFile,
        '--gateway',
        gateway,
        '--version',
        String(version),
        '--confirm-window-s',
        '30',
        '--comment',
        'cli test',
        file
      ])
      assert.equal(r.code, 0, r.stderr)
      const out = join(dir, `signed-${gateway === '*' ? 'fleet' : gateway}-${version}.json`)
      writeFileSync(out, r.stdout)
      return out
    }
    const brokers = ['--brokers', kafka.brokers.join(',')]

    // The fleet default for everyone, and gw-a's own document (which wins for gw-a whatever the versions:
    // versions are per layer).
    const fleetDoc = await sign('*', 500, desired(40))
    const ownDoc = await sign('gw-a', 100, desired(60))
    assert.equal(JSON.parse(readFileSync(ownDoc, 'utf8')).document.gatewayId, 'gw-a')
    for (const f of [ownDoc, fleetDoc]) {
      const r = await runCli(['fleet', 'push', ...brokers, '--topic', configTopic, f])
      assert.equal(r.code, 0, r.stderr)
    }
    const key = JSON.parse((await runCli(['fleet', 'push', ...brokers, '--topic', configTopic, ownDoc])).stdout).key
    assert.equal(key, 'gw-a')
    await status.event(
      'gw-a confirmed v100',
      r => r.gatewayId === 'gw-a' && r.type === 'confirmed' && r.version === 100,
      40_000
    )
    await status.event(
      'gw-b confirmed v500',
      r => r.gatewayId === 'gw-b' && r.type === 'confirmed' && r.version === 500,
      40_000
    )
    assert.equal((await gwA.status()).config.version, 100)
    assert.equal((await gwB.status()).config.version, 500)
    // Changed with layering: gw-a sees the fleet default too and keeps it as its lower layer. Read after
    // its own document, it is reported as superseded (both set the same fields); read in the same pass
    // (gw-a started before the topic existed), it is applied first, lowest layer first.
    const fleetOutcome = await status.event(
      'gw-a: an outcome for v500',
      r =>
        r.gatewayId === 'gw-a' &&
        r.version === 500 &&
        (r.type === 'ignored' || (r.type === 'confirmed' && r.key === '*')),
      40_000
    )
    if (fleetOutcome.type === 'ignored') {
      assert.equal(fleetOutcome.reason, 'superseded')
      assert.deepEqual(fleetOutcome.supersededBy, ['gw-a'])
    }

    // A document the gateways would reject is refused before it is signed.
    const bad = join(dir, 'bad.json')
    writeFileSync(
      bad,
      JSON.stringify({ kafka: { brokers: kafka.brokers }, mqtt: { port: 1 }, quota: { msgsPerS: -1 } })
    )
    const refused = await runCli(['fleet', 'sign', '--key', keyFile, '--gateway', 'gw-b', bad])
    assert.equal(refused.code, 2)
    assert.match(refused.stderr, /HF_ERR_CONFIG_INVALID/)
    assert.match(refused.stderr, /mqtt\.port: is a local setting/)
    assert.match(refused.stderr, /quota\.msgsPerS: must be a number from 0\.01/)

    // Deleting gw-a's own document removes that layer: the fleet default it kept applies.
    const del = await runCli(['fleet', 'push', ...brokers, '--topic', configTopic, '--delete', '--gateway', 'gw-a'])
    assert.equal(del.code, 0, del.stderr)
    await status.event(
      'gw-a confirmed the removal of its layer',
      r => r.gatewayId === 'gw-a' && r.type === 'confirmed' && r.key === 'gw-a' && r.version === null,
      40_000
    )

    // The operator's view: one line per gateway.
    const rows = await waitFor(
      'both gateways reported on v500',
      async () => {
        const r = await runCli(
          ['fleet', 'status', ...brokers, '--topic', statusTopic, '--config-topic', configTopic, '--json'],
          { timeoutMs: 40_000 }
        )
        assert.equal(r.code, 0, r.stderr)
        const lines = r.stdout
          .trim()
          .split('\n')
          .filter(l => l !== '')
          .map(l => JSON.parse(l))
        return lines.length === 2 && lines.every(l => l.configVersion === 500 && l.configState === 'confirmed') && lines
      },
      40_000
    )
    assert.deepEqual(
      rows.map((r: any) => r.gatewayId),
      ['gw-a', 'gw-b']
    )
    for (const r of rows) {
      assert.equal(r.uplink, 'connected')
      assert.equal(r.lastEvent.type, 'confirmed')
      assert.ok(['ok', 'warn'].includes(r.health.level), JSON.stringify(r.health))
      assert.match(r.softwareVersion, /^\d+\.\d+\.\d+/)
    }
    const table = await runCli(['fleet', 'status', ...brokers, '--topic', statusTopic, '--config-topic', configTopic], {
      timeoutMs: 40_000
    })
    process.stdout.write(
      table.stdout
        .split('\n')
        .map(l => `# ${l}`)
        .join('\n') + '\n'
    )
    assert.match(table.stdout, /^GATEWAY +STATE +DESIRED +REPORTED +SYNC +LAST OUTCOME/m)
    assert.match(table.stdout, /^gw-a +confirmed +\*:500 +\*:500 +yes +confirmed gw-a delete/m)
    assert.match(table.stdout, /^gw-b +confirmed +\*:500 +\*:500 +yes +confirmed \* v500/m)
  } finally {
    await gwA.stop()
    await gwB.stop()
    await status.close()
  }
})
