/**
 * Runs one Kafka broker for a whole test run (scripts/test.sh): starts it, writes its addresses as
 * JSON to the file named by argv[2] (the value of HF_TEST_KAFKA for the test files), and stops it
 * on SIGTERM or SIGINT, or once the process argv[3] (the script that started it) is gone.
 */
import { renameSync, writeFileSync } from 'node:fs'
import { type KafkaBroker, sharedInfo, startKafka } from './kafka.js'

const out = process.argv[2]
if (out === undefined) {
  process.stderr.write('usage: kafka-shared.js <info-file> [owner-pid]\n')
  process.exit(2)
}
let broker: KafkaBroker | null = null
let stopping = false
/** Stop the broker; during its start, exit at once (the harness' watchdog ends the JVM with us). */
const stop = async (): Promise<void> => {
  if (stopping) return
  stopping = true
  await broker?.dispose().catch(() => {})
  process.exit(0)
}
process.on('SIGTERM', () => void stop())
process.on('SIGINT', () => void stop())
const owner = Number(process.argv[3])
if (owner > 0) {
  setInterval(() => {
    try {
      process.kill(owner, 0)
    } catch {
      void stop()
    }
  }, 2000)
}

broker = await startKafka()
writeFileSync(`${out}.tmp`, JSON.stringify(sharedInfo(broker)))
renameSync(`${out}.tmp`, out)
process.stderr.write(`shared Kafka ${broker.version} on ${broker.brokers[0]}\n`)
