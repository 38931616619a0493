// @podkit/log-pipeline: the tail, multiline, parse, transform and sink engine of podkit's log
// services. See README.md for the API and how offsets, acknowledgements and backpressure work.

export {
  PipelineConfigError,
  PositionsFileError,
  RegexInvalidError,
  SinkWriteError,
  TimeFormatError,
  UnknownParserError,
} from './errors.ts'
export type { LogEvent } from './event.ts'
export { LineBuffer, LineBufferPool } from './line-buffer.ts'
export { createPipelineMetrics, type PipelineMetrics } from './metrics.ts'
export {
  createMultiline,
  type Holdable,
  type Multiline,
  type MultilineEmit,
  type MultilineMode,
  type MultilineOptions,
  type MultilineRule,
} from './multiline/multiline.ts'
export {
  createJsonParser,
  createLogfmtParser,
  createLtsvParser,
  parseLogfmt,
  parseLtsv,
} from './parsers/formats.ts'
export {
  type Extractor,
  type FieldType,
  type ParseResult,
  type Parser,
  type ParserDefinition,
  withTimeAndTypes,
} from './parsers/parser.ts'
export { PRESET_DEFINITIONS } from './parsers/presets.ts'
export { createRegexParser, type TranslatedRegex, translateRegex } from './parsers/regex.ts'
export { firstMatch, type ParserFactory, ParserRegistry } from './parsers/registry.ts'
export {
  createSeedParser,
  LEVELS,
  type Level,
  normalizeLevel,
  SEED_FIRST_LINE,
  type SeedParserOptions,
  type SeedScan,
  scanSeed,
} from './parsers/seed.ts'
export {
  compileTimeFormat,
  formatIso,
  parseOffset,
  resolveZone,
  type TimeFormatOptions,
  type TimeParser,
  type Zone,
} from './parsers/strptime.ts'
export {
  createPipeline,
  type LineOrigin,
  Pipeline,
  type PipelineOptions,
  type PipelineStats,
} from './pipeline.ts'
export type { Sink } from './sink.ts'
export { FileSink, type FileSinkOptions, serializeRecord } from './sinks/file.ts'
export { StdoutSink, type StdoutSinkOptions } from './sinks/stdout.ts'
export type { TailChunk } from './tail/chunk.ts'
export type { FileStatus } from './tail/file-tailer.ts'
export { compileGlob, expandTag, splitGlobList } from './tail/glob.ts'
export { fileKey, type PositionEntry, PositionsFile } from './tail/positions.ts'
export { type ChunkHandler, type TailOptions, TailSource } from './tail/tail-source.ts'
export { createGrep, type GrepOptions, type GrepRule } from './transforms/grep.ts'
export { createModify, type ModifyOptions, type ModifyRule } from './transforms/modify.ts'
export { accessorPath, getField, interpolateEnv, type Transform } from './transforms/transform.ts'
