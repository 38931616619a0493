// Errors of log-adapter, with stable codes documented in README.md.

import { PodkitError } from '@podkit/runtime'

/** The format, time zone or multiline settings do not compile; the message names the option. */
export class AdapterFormatError extends PodkitError {
  override readonly code = 'PODKIT_LOG_ADAPTER_FORMAT'
}

/** The output file's directory cannot be written (checked at start, before anything is read). */
export class AdapterOutputError extends PodkitError {
  override readonly code = 'PODKIT_LOG_ADAPTER_OUTPUT'
}
