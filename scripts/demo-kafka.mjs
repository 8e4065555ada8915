// `npm run demo -- --kafka`: the tests' local Kafka broker (test/harness/kafka.ts, from dist/) for the
// demo. Creates the topic, writes the bootstrap address to the file named by argv[2] once the broker
// answers, and runs until SIGTERM/SIGINT, when it stops the broker and removes its data.
import { renameSync, writeFileSync } from 'node:fs'
import { startKafka } from '../dist/test/harness/kafka.js'

const [out, topic = 'holdfast.telemetry'] = process.argv.slice(2)
const kafka = await startKafka()
let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await kafka.dispose()
  process.exit(0)
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
const admin = kafka.client().admin()
await admin.connect()
await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true })
await admin.disconnect()
writeFileSync(`${out}.tmp`, kafka.brokers.join(','))
renameSync(`${out}.tmp`, out)
process.stderr.write(`Kafka ${kafka.version} on ${kafka.brokers.join(',')} (broker log ${kafka.logFile})\n`)
setInterval(() => {}, 1 << 30)
