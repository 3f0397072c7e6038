/** The STOMP codec: frames, header escaping, parser, encoder. Pure, no I/O. */

export * from './frame.js';
export { escapeHeader, unescapeHeader } from './escape.js';
export {
  FrameParser,
  DEFAULT_PARSER_LIMITS,
  parserLimits,
  type ParserLimits,
  type ParserSettings,
  type FrameParserOptions,
  type FrameSink,
} from './parser.js';
export {
  encodeFrame,
  encodeFrameParts,
  HEARTBEAT_EOL,
  NULL_BYTE,
  INLINE_BODY_BYTES,
  type EncodeOptions,
  type FrameParts,
} from './encoder.js';
