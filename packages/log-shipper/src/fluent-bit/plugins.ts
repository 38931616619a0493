// The Fluent Bit plugins and keys the shipper implements. Anything else is a start-up error naming
// file and line: a key we would silently ignore is a behaviour the user would silently lose.

import type { SectionKindName } from './section.ts'

const TLS = ['tls', 'tls.verify', 'tls.ca_file', 'tls.crt_file', 'tls.key_file', 'tls.vhost', 'tls.debug']
const NET = ['net.keepalive', 'net.keepalive_idle_timeout', 'net.connect_timeout']
const HTTP_AUTH = ['http_user', 'http_passwd']
const OUTPUT_COMMON = [
  'name',
  'alias',
  'match',
  'match_regex',
  'retry_limit',
  'log_level',
  'workers',
  'storage.total_limit_size',
]
const FILTER_COMMON = ['name', 'alias', 'match', 'match_regex', 'log_level']
const INPUT_COMMON = ['name', 'alias', 'tag', 'log_level', 'mem_buf_limit', 'storage.type', 'threaded']

const ES_KEYS = [
  ...OUTPUT_COMMON,
  ...TLS,
  ...NET,
  ...HTTP_AUTH,
  'host',
  'port',
  'path',
  'index',
  'type',
  'suppress_type_name',
  'logstash_format',
  'logstash_prefix',
  'logstash_dateformat',
  'time_key',
  'include_tag_key',
  'tag_key',
  'generate_id',
  'id_key',
  'replace_dots',
  'buffer_size',
  'trace_output',
  'trace_error',
]

/** Supported keys per section kind and plugin name (lower-case). */
/**
 * The kubernetes filter's keys for reaching the API server (address, credentials) or the kubelet,
 * and for caching and retrying those calls: accepted, with no effect, since metadata comes from
 * the tag here, never from the API.
 */
const KUBE_API_KEYS = [
  'kube_url',
  'kube_ca_file',
  'kube_ca_path',
  'kube_token_file',
  'use_kubelet',
  'kubelet_port',
  'kubelet_host',
  'kube_meta_cache_ttl',
  'kube_token_ttl',
  'kube_token_command',
  'dns_retries',
  'dns_wait_time',
]

export const PLUGIN_KEYS: Record<SectionKindName, Record<string, readonly string[]>> = {
  service: {
    '': [
      'flush',
      'grace',
      'daemon',
      'log_level',
      'parsers_file',
      'http_server',
      'http_listen',
      'http_port',
      'storage.path',
      'storage.sync',
      'storage.checksum',
      'storage.backlog.mem_limit',
      'storage.max_chunks_up',
      'scheduler.base',
      'scheduler.cap',
      'log_file',
      'health_check',
      'hc_errors_count',
      'hc_retry_failure_count',
      'hc_period',
    ],
  },
  input: {
    tail: [
      ...INPUT_COMMON,
      'path',
      'exclude_path',
      'parser',
      'refresh_interval',
      'read_from_head',
      'skip_long_lines',
      'skip_empty_lines',
      'buffer_chunk_size',
      'buffer_max_size',
      'db',
      'db.sync',
      'db.locking',
      'rotate_wait',
      'path_key',
      'key',
      'multiline.parser',
      'inotify_watcher',
      'ignore_older',
      'tag_regex',
      'db.journal_mode',
      'multiline',
      'multiline_flush',
      'parser_firstline',
      // Parser_1, Parser_2, ...: any parser_<number> (pipeline-spec.ts checks the pattern).
      'parser_N',
      'docker_mode',
      'docker_mode_flush',
      'docker_mode_parser',
    ],
  },
  filter: {
    modify: [
      ...FILTER_COMMON,
      'add',
      'set',
      'remove',
      'remove_wildcard',
      'remove_regex',
      'rename',
      'hard_rename',
      'copy',
      'hard_copy',
      'condition',
    ],
    grep: [...FILTER_COMMON, 'regex', 'exclude', 'logical_op'],
    parser: [...FILTER_COMMON, 'key_name', 'parser', 'reserve_data', 'preserve_key'],
    record_modifier: [...FILTER_COMMON, 'record', 'remove_key', 'allowlist_key', 'whitelist_key'],
    nest: [
      ...FILTER_COMMON,
      'operation',
      'wildcard',
      'nest_under',
      'nested_under',
      'add_prefix',
      'prefix_with',
      'remove_prefix',
    ],
    kubernetes: [
      ...FILTER_COMMON,
      'kube_tag_prefix',
      'regex_parser',
      'merge_log',
      'merge_log_key',
      'keep_log',
      'labels',
      'annotations',
      'k8s-logging.parser',
      'k8s-logging.exclude',
      // How Fluent Bit reaches the API server, which this filter never calls.
      ...KUBE_API_KEYS,
      'buffer_size',
      'tls.verify',
    ],
  },
  output: {
    forward: [
      ...OUTPUT_COMMON,
      ...TLS,
      ...NET,
      'host',
      'port',
      'require_ack_response',
      'compress',
      'shared_key',
      'empty_shared_key',
      'self_hostname',
      'username',
      'password',
      'send_options',
      'tag',
      'time_as_integer',
    ],
    http: [
      ...OUTPUT_COMMON,
      ...TLS,
      ...NET,
      ...HTTP_AUTH,
      'host',
      'port',
      'uri',
      'format',
      'header',
      'compress',
      'json_date_key',
      'json_date_format',
      'bearer_token',
    ],
    loki: [
      ...OUTPUT_COMMON,
      ...TLS,
      ...NET,
      ...HTTP_AUTH,
      'host',
      'port',
      'uri',
      'tenant_id',
      'labels',
      'label_keys',
      'remove_keys',
      'line_format',
      'drop_single_key',
      'bearer_token',
    ],
    es: ES_KEYS,
    // Fluent Bit's opensearch output: the same _bulk protocol and keys (its AWS keys are not supported).
    opensearch: ES_KEYS,
    stdout: [...OUTPUT_COMMON, 'format', 'json_date_key', 'json_date_format'],
    file: [...OUTPUT_COMMON, 'path', 'file', 'format', 'mkdir'],
  },
  parser: {
    '': [
      'name',
      'format',
      'regex',
      'time_key',
      'time_format',
      'time_keep',
      'time_offset',
      'types',
      'skip_empty_values',
      'decode_field',
      'decode_field_as',
      'time_strict',
    ],
  },
  multiline_parser: {
    '': ['name', 'type', 'flush_timeout', 'rule'],
  },
}

/** Plugin names per kind, for error messages. */
export function pluginNames(kind: SectionKindName): string[] {
  return Object.keys(PLUGIN_KEYS[kind]).filter((n) => n !== '')
}

/** The supported keys of a plugin, or undefined when the plugin itself is not supported. */
export function supportedKeys(kind: SectionKindName, name: string): readonly string[] | undefined {
  const table = PLUGIN_KEYS[kind]
  return table[''] ?? table[name]
}

/** Keys accepted for compatibility that change nothing here; README says why for each. */
export const NO_EFFECT_KEYS = [
  'threaded',
  'workers',
  'inotify_watcher',
  'db.sync',
  'db.locking',
  // SQLite's journal mode (WAL by default); the positions file is JSON, written atomically.
  'db.journal_mode',
  'storage.type',
  'tls.debug',
  'log_level',
  // kubernetes: how Fluent Bit reaches the API server or the kubelet (metadata never comes from them here).
  ...KUBE_API_KEYS,
  // kubernetes and es: the size of the buffer for the API's or _bulk's response (read whole here).
  'buffer_size',
  // es: Fluent Bit prints the request or refused items to its log; refused items are logged anyway.
  'trace_output',
  'trace_error',
]

/** The README's table of supported plugins and keys, generated so it cannot drift. */
export function renderPluginKeysMarkdown(): string {
  const rows = ['| section | plugin | keys |', '| --- | --- | --- |']
  for (const [kind, plugins] of Object.entries(PLUGIN_KEYS)) {
    for (const [name, keys] of Object.entries(plugins)) {
      const label = kind === 'service' ? '[SERVICE]' : `[${kind.toUpperCase()}]`
      rows.push(`| ${label} | ${name || '-'} | ${keys.map((k) => `\`${k}\``).join(', ')} |`)
    }
  }
  return rows.join('\n')
}
