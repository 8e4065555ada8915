/**
 * The batch codec as a library, for consumers of the Holdfast Kafka topic (package.json `exports`
 * maps `holdfast/codec` here, with types):
 *   import { decodeBatch } from 'holdfast/codec'
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
