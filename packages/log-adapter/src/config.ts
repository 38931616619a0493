// log-adapter's options: one schema for env vars, flags, the YAML file, --help and the README.
// Defaults reproduce the seed's adapter: /raw-logs/application.log in, /processed-logs/app.json out.

import { type ConfigIssue, commonOptions, Duration, Options, Size } from '@podkit/runtime'
import { type Static, Type } from '@sinclair/typebox'

export const ENV_PREFIX = 'LOG_ADAPTER_'

export const FORMATS = [
  'seed',
  'regex',
  'nginx',
  'apache',
  'apache2',
  'apache_error',
  'syslog-rfc5424',
  'syslog-rfc3164',
  'syslog-rfc3164-local',
  'klog',
  'cri',
  'docker',
  'json',
  'logfmt',
  'ltsv',
] as const

export const MULTILINE_MODES = [
  'auto',
  'off',
  'regex',
  'java',
  'python',
  'go',
  'stacktrace',
  'cri',
  'docker',
] as const

const literals = <T extends readonly string[]>(xs: T) => xs.map((x) => Type.Literal(x))

export const schema = Options({
  ...commonOptions({ adminPort: 2021 }),
  input: Options({
    paths: Type.Array(Type.String(), {
      default: ['/raw-logs/application.log'],
      description: 'Files to convert: globs (`*`, `**`, `?`, `{a,b}`), comma-separated in env and flags.',
    }),
    exclude: Type.Array(Type.String(), {
      default: [],
      description: 'Globs of files to leave alone; a pattern without `/` matches the file name.',
    }),
    readFromHead: Type.Boolean({
      default: true,
      description:
        'Read files found at start (with no saved position) from their beginning; false starts at their end. Files that appear later are always read from the beginning.',
    }),
    maxLineSize: Size({
      default: 1024 * 1024,
      minimum: 1024,
      description: 'Longest line kept whole, in bytes; longer lines are truncated (or skipped) and counted.',
    }),
    longLines: Type.Union(literals(['truncate', 'skip'] as const), {
      default: 'truncate',
      description: 'What to do with lines longer than maxLineSize.',
    }),
    positionsFile: Type.String({
      default: '',
      description:
        'Where read offsets are kept across restarts. Empty: `.log-adapter-positions` beside the output file (none when writing to stdout); `none` disables.',
    }),
    pollInterval: Duration({
      default: 250,
      description: 'How often a file at its end is checked for new lines, truncation and rotation.',
    }),
    refreshInterval: Duration({
      default: 10_000,
      description: 'How often the globs are scanned for new files.',
    }),
    rotateWait: Duration({
      default: 5000,
      description: 'How long a rotated (renamed) input file is still read after it stopped growing.',
    }),
    partialLineTimeout: Duration({
      default: 1000,
      description: 'How long a last line without newline waits for its newline before it is converted.',
    }),
    memBufLimit: Size({
      // 128 KiB (eight 16 KiB reads): the writer, not reading, sets the pace, so more read-ahead
      // only holds more batches' output bytes in memory (~1 MiB less peak RSS than 512 KiB at the
      // same lines/s on Node 26).
      default: 128 * 1024,
      minimum: 16 * 1024,
      description:
        'Bytes read but not yet written before reading pauses (backpressure; nothing is dropped). Small keeps the heap small; reads are a quarter of it.',
    }),
  }),
  format: Options({
    name: Type.Union(literals(FORMATS), {
      default: 'seed',
      env: 'LOG_ADAPTER_FORMAT',
      description:
        'Input format: `seed` (`TIMESTAMP LEVEL MESSAGE`), `regex` (format.regex), or a preset of @podkit/log-pipeline.',
    }),
    regex: Type.String({
      default: '',
      description:
        'With format regex: a pattern with `(?<name>...)` groups; `timestamp` (or `time`), `level` and `message` (or `msg`, `log`) fill those fields, other groups are added as they are.',
    }),
    timeFormat: Type.String({
      default: '',
      description:
        'strptime format of the regex `timestamp` group (e.g. `%d/%b/%Y:%H:%M:%S %z`); empty tries ISO 8601 and the seed form.',
    }),
    timezone: Type.String({
      default: 'UTC',
      env: 'LOG_ADAPTER_TIMEZONE',
      description:
        'Zone of input timestamps that carry none, and of the output `timestamp`: UTC, an offset like +02:00, or an IANA name like Europe/Berlin.',
    }),
  }),
  multiline: Options({
    mode: Type.Union(literals(MULTILINE_MODES), {
      default: 'auto',
      description:
        '`auto`: indented lines and Java, Python and Go trace lines join the record above them; `regex`: lines not matching multiline.firstLine join; `off`; or a single runtime / cri / docker.',
    }),
    firstLine: Type.String({
      default: '',
      description: 'With mode regex: the pattern of a line that starts a record.',
    }),
    timeout: Duration({
      default: 1000,
      description: 'A record waiting for more lines is written after this long without one.',
    }),
    maxLines: Type.Integer({ default: 1000, minimum: 1, description: 'Most lines joined into one record.' }),
  }),
  output: Options({
    path: Type.String({
      default: '/processed-logs/app.json',
      env: 'LOG_ADAPTER_OUTPUT',
      description: 'JSON Lines output file; `-` or `stdout` writes to stdout.',
    }),
    maxSize: Size({
      default: 16 * 1024 * 1024,
      description:
        'The output file is rotated (renamed to .1) before it passes this size; 0 never rotates. With maxFiles, at most maxSize × (maxFiles + 1) on disk.',
    }),
    maxFiles: Type.Integer({
      default: 4,
      minimum: 0,
      maximum: 100,
      description: 'Rotated output files kept (app.json.1 ... app.json.N).',
    }),
    fsync: Type.Boolean({
      default: false,
      description: 'fsync the output after every batch (survives a node crash, not just a container kill).',
    }),
  }),
  fields: Options({
    timestamp: Type.String({
      default: 'timestamp',
      minLength: 1,
      description: 'Output field of the ISO 8601 time.',
    }),
    level: Type.String({
      default: 'level',
      minLength: 1,
      description: 'Output field of the normalised level.',
    }),
    message: Type.String({ default: 'message', minLength: 1, description: 'Output field of the message.' }),
    pod: Type.String({
      default: 'pod',
      minLength: 1,
      description: 'Output field of the pod name (always written, as the seed does).',
    }),
    namespace: Type.String({
      default: 'namespace',
      minLength: 1,
      description: 'Output field of the namespace, when known.',
    }),
    node: Type.String({
      default: 'node',
      minLength: 1,
      description: 'Output field of the node name, when known.',
    }),
    container: Type.String({
      default: 'container',
      minLength: 1,
      description: 'Output field of the container name, when known.',
    }),
  }),
  pod: Options({
    name: Type.String({
      default: '',
      env: 'POD_NAME',
      description: 'Pod name (Downward API metadata.name).',
    }),
    namespace: Type.String({
      default: '',
      env: 'POD_NAMESPACE',
      description: 'Namespace (Downward API metadata.namespace); added when set.',
    }),
    node: Type.String({
      default: '',
      env: 'NODE_NAME',
      description: 'Node name (Downward API spec.nodeName); added when set.',
    }),
    container: Type.String({
      default: '',
      env: 'CONTAINER_NAME',
      description: 'Name of the container whose logs these are; added when set.',
    }),
  }),
  batch: Options({
    size: Type.Integer({ default: 512, minimum: 1, description: 'Records per write.' }),
    flushInterval: Duration({ default: 200, description: 'A partial batch is written after this long.' }),
  }),
})

export type LogAdapterConfig = Static<typeof schema>

/** Checks the schema cannot express; each names its key. Compiling is left to createLogAdapter. */
export function crossChecks(c: LogAdapterConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = []
  if (c.format.name === 'regex' && c.format.regex === '') {
    issues.push({
      key: 'format.regex',
      expected: 'a regex with (?<name>...) groups when format.name is regex',
      got: 'nothing',
    })
  }
  if (c.multiline.mode === 'regex' && c.multiline.firstLine === '') {
    issues.push({
      key: 'multiline.firstLine',
      expected: 'a regex when multiline.mode is regex',
      got: 'nothing',
    })
  }
  if (c.input.paths.length === 0)
    issues.push({ key: 'input.paths', expected: 'at least one path or glob', got: '[]' })
  return issues
}
