// Built-in parsers, with the definitions Fluent Bit ships in its parsers.conf (nginx, apache,
// apache_error, syslog-rfc3164/5424, cri, docker, json) plus klog, logfmt, ltsv and the seed format.

import type { ParserDefinition } from './parser.ts'

const CLF_TIME = '%d/%b/%Y:%H:%M:%S %z'

export const PRESET_DEFINITIONS: readonly ParserDefinition[] = [
  {
    name: 'nginx',
    format: 'regex',
    regex:
      '^(?<remote>[^ ]*) (?<host>[^ ]*) (?<user>[^ ]*) \\[(?<time>[^\\]]*)\\] "(?<method>\\S+)(?: +(?<path>[^\\"]*?)(?: +\\S*)?)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\\"]*)" "(?<agent>[^\\"]*)")?$',
    timeKey: 'time',
    timeFormat: CLF_TIME,
  },
  {
    name: 'apache',
    format: 'regex',
    regex:
      '^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \\[(?<time>[^\\]]*)\\] "(?<method>\\S+)(?: +(?<path>[^ ]*) +\\S*)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\\"]*)" "(?<agent>[^\\"]*)")?$',
    timeKey: 'time',
    timeFormat: CLF_TIME,
  },
  {
    name: 'apache2',
    format: 'regex',
    regex:
      '^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \\[(?<time>[^\\]]*)\\] "(?<method>\\S+)(?: +(?<path>[^ ]*) +\\S*)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>[^\\"]*)" "(?<agent>.*)")?$',
    timeKey: 'time',
    timeFormat: CLF_TIME,
  },
  {
    name: 'apache_error',
    format: 'regex',
    regex:
      '^\\[[^ ]* (?<time>[^\\]]*)\\] \\[(?<level>[^\\]]*)\\](?: \\[pid (?<pid>[^\\]]*)\\])?( \\[client (?<client>[^\\]]*)\\])? (?<message>.*)$',
  },
  {
    name: 'syslog-rfc5424',
    format: 'regex',
    regex:
      '^\\<(?<pri>[0-9]{1,5})\\>1 (?<time>[^ ]+) (?<host>[^ ]+) (?<ident>[^ ]+) (?<pid>[-0-9]+) (?<msgid>[^ ]+) (?<extradata>(\\[(.*?)\\]|-)) (?<message>.+)$',
    timeKey: 'time',
    timeFormat: '%Y-%m-%dT%H:%M:%S.%L%z',
    timeKeep: true,
  },
  {
    name: 'syslog-rfc3164',
    format: 'regex',
    regex:
      '^\\<(?<pri>[0-9]+)\\>(?<time>[^ ]* {1,2}[^ ]* [^ ]*) (?<host>[^ ]*) (?<ident>[a-zA-Z0-9_\\/\\.\\-]*)(?:\\[(?<pid>[0-9]+)\\])?(?:[^\\:]*\\:)? *(?<message>.*)$',
    timeKey: 'time',
    timeFormat: '%b %d %H:%M:%S',
  },
  {
    name: 'syslog-rfc3164-local',
    format: 'regex',
    regex:
      '^\\<(?<pri>[0-9]+)\\>(?<time>[^ ]* {1,2}[^ ]* [^ ]*) (?<ident>[a-zA-Z0-9_\\/\\.\\-]*)(?:\\[(?<pid>[0-9]+)\\])?(?:[^\\:]*\\:)? *(?<message>.*)$',
    timeKey: 'time',
    timeFormat: '%b %d %H:%M:%S',
  },
  {
    // Kubernetes components (klog): `I0115 10:30:00.123456    1234 server.go:42] message`.
    name: 'klog',
    format: 'regex',
    regex:
      '^(?<level>[IWEF])(?<time>\\d{4} \\d{2}:\\d{2}:\\d{2}\\.\\d+)\\s+(?<pid>\\d+) (?<source>[^:\\]]+:\\d+)\\] (?<message>.*)$',
    timeKey: 'time',
    timeFormat: '%m%d %H:%M:%S.%L',
  },
  {
    // Container runtime (CRI) log lines: `<RFC3339Nano> <stream> <P|F> <content>`.
    name: 'cri',
    format: 'regex',
    regex: '^(?<time>[^ ]+) (?<stream>stdout|stderr) (?<logtag>[^ ]*) (?<message>.*)$',
    timeKey: 'time',
    timeFormat: '%Y-%m-%dT%H:%M:%S.%L%z',
    timeKeep: true,
  },
  {
    // Docker's json-file driver: `{"log":"...\n","stream":"stdout","time":"2024-...Z"}`.
    name: 'docker',
    format: 'json',
    timeKey: 'time',
    timeFormat: '%Y-%m-%dT%H:%M:%S.%L',
    timeKeep: true,
  },
  { name: 'json', format: 'json' },
  { name: 'logfmt', format: 'logfmt' },
  { name: 'ltsv', format: 'ltsv' },
]
