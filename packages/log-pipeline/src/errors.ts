// Errors of the log pipeline, with stable codes documented in README.md.

import { PodkitError } from '@podkit/runtime'

/** A regex parser's pattern does not compile (after translating Fluent Bit/Onigmo syntax). */
export class RegexInvalidError extends PodkitError {
  override readonly code = 'PODKIT_LOG_REGEX_INVALID'
}

/** A Time_Format uses a directive this strptime does not know. */
export class TimeFormatError extends PodkitError {
  override readonly code = 'PODKIT_LOG_TIME_FORMAT_INVALID'
}

/** A parser name that is neither a preset nor registered. */
export class UnknownParserError extends PodkitError {
  override readonly code = 'PODKIT_LOG_PARSER_UNKNOWN'
}

/** A parser, multiline or transform definition is incomplete or contradictory. */
export class PipelineConfigError extends PodkitError {
  override readonly code = 'PODKIT_LOG_PIPELINE_CONFIG'
}

/** The positions file cannot be read, parsed or written. */
export class PositionsFileError extends PodkitError {
  override readonly code = 'PODKIT_LOG_POSITIONS'
}

/** A sink write failed; `retryable: false` gives the batch up instead of retrying it. */
export class SinkWriteError extends PodkitError {
  override readonly code = 'PODKIT_LOG_SINK_WRITE'
  readonly retryable: boolean

  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options)
    this.retryable = options.retryable ?? true
  }
}
