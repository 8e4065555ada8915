/**
 * The batch decoder as a library, for consumers of the Holdfast Kafka topic:
 *   import { decodeBatch } from 'holdfast/dist/src/codec/index.js'
 * README.md "Batch format" is the specification this implements.
 */
export {
  decodeBatch,
  encodeBatch,
  eventIdOf,
  splitStream,
  frameStream,
  FORMAT_VERSION,
  CONTENT_TYPE,
  HEADERS,
  KAFKA_COMPRESSION,
  CODEC_NONE,
  CODEC_ZLIB
} from './batch.js'
export type { BatchMessage, DecodedReading, EncodeOptions } from './batch.js'
export { HoldfastError, isHoldfastError } from '../errors.js'
