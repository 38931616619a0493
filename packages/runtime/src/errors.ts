// Base error class for every podkit package. Codes are stable strings that users can match on
// and that each package documents in its README (a test checks both directions).

export class PodkitError extends Error {
  readonly code: string = 'PODKIT_ERROR'

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
  }
}

/** One problem found in the configuration: where, what was expected, what was given. */
export interface ConfigIssue {
  key: string
  expected: string
  got: string
  source?: string
}

export class ConfigError extends PodkitError {
  override readonly code = 'PODKIT_CONFIG_INVALID'
  readonly issues: ConfigIssue[]

  constructor(issues: ConfigIssue[]) {
    super(formatIssues(issues))
    this.issues = issues
  }
}

export class ConfigFileError extends PodkitError {
  override readonly code = 'PODKIT_CONFIG_FILE'
}

function formatIssues(issues: ConfigIssue[]): string {
  const n = issues.length
  const lines = issues.map((i) => {
    const from = i.source ? ` (from ${i.source})` : ''
    return `  ${i.key}: expected ${i.expected}, got ${i.got}${from}`
  })
  return `invalid configuration, ${n} problem${n === 1 ? '' : 's'}:\n${lines.join('\n')}`
}
