/**
 * The batch codec as a library, for consumers of the Holdfast Kafka topic (package.json `exports`
 * maps `holdfast/codec` here, with types):
 *   import { decodeMessage } from 'holdfast/codec'
 * README.md "Batch format" is the specification this implements.
 */
export {
  decodeBatch,
  decodeMessage,
  encodeBatch,
  encodeControl,
  eventIdOf,
  splitStream,
  frameStream,
  FORMAT_VERSION,
  FORMAT_VERSION_METADATA,
  FORMAT_VERSIONS,
  CONTENT_TYPE,
  HEADERS,
  HEADERS_V1,
  KAFKA_COMPRESSION,
  CODEC_NONE,
  CODEC_ZLIB
} from './batch.js'
export type { BatchMessage, DecodedMessage, DecodedReading, EncodeOptions, Lane, ReadingKind } from './batch.js'
export type { ReadingMetadata } from './metadata.js'
export { FATE_REASONS } from './control.js'
export type { ControlRecord, LedgerRecord, DroppedRun, SeqGap, DeviceTotals, FateReason } from './control.js'
export { decimalText } from './shapes.js'
export { Accountant } from './account.js'
export type { DeviceAccount, GatewayAccount } from './account.js'
export { eventMsOfValue, eventMsOfDocument, DEFAULT_TIME_FIELDS } from './time.js'
export { HoldfastError, isHoldfastError } from '../errors.js'
