// node scripts/kafka-topic.mjs BROKERS TOPIC [PARTITIONS]: create a topic (as a fleet's admin would; the
// gateway never creates its own) and return once every partition has a leader. Used by the demo.
import { Kafka, logLevel } from 'kafkajs'

const [brokers, topic, partitions = '3'] = process.argv.slice(2)
const admin = new Kafka({ brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin()
await admin.connect()
try {
  await admin.createTopics({ topics: [{ topic, numPartitions: Number(partitions) }], waitForLeaders: false })
  // Not kafkajs' waitForLeaders: a broker that has just started may answer UNKNOWN_TOPIC_OR_PARTITION first.
  for (let i = 0; ; i++) {
    const ready = await admin
      .fetchTopicMetadata({ topics: [topic] })
      .then(md => md.topics[0]?.partitions.every(p => p.leader >= 0) === true)
      .catch(() => false)
    if (ready) break
    if (i >= 300) throw new Error(`no leaders for ${topic} after 60 s`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
} finally {
  await admin.disconnect()
}
