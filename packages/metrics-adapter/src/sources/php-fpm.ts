// PHP-FPM's status page (pm.status_path, plain-text form, https://www.php.net/manual/en/fpm.status.php)
// as a web server in front of FPM serves it, with the metric names of hipages/php-fpm_exporter.
// Declared, not coded: see source.ts.

import { defineSource, type MappingRule } from '../source.ts'

const rule = (key: string, metric: string, type: 'gauge' | 'counter', help: string): MappingRule => ({
  key,
  metric: `phpfpm_${metric}`,
  type,
  help,
})

export const phpFpmSource = defineSource({
  name: 'php-fpm',
  up: { name: 'phpfpm_up', help: 'Could PHP-FPM be reached?' },
  labelsFrom: { pool: 'pool' },
  rules: [
    rule('accepted conn', 'accepted_connections', 'counter', 'The number of requests accepted by the pool.'),
    rule('start since', 'start_since', 'counter', 'The number of seconds since FPM has started.'),
    rule(
      'listen queue',
      'listen_queue',
      'gauge',
      'The number of requests in the queue of pending connections.',
    ),
    rule(
      'max listen queue',
      'max_listen_queue',
      'counter',
      'The maximum number of requests in the queue of pending connections since FPM has started.',
    ),
    rule(
      'listen queue len',
      'listen_queue_length',
      'gauge',
      'The size of the socket queue of pending connections.',
    ),
    rule('idle processes', 'idle_processes', 'gauge', 'The number of idle processes.'),
    rule('active processes', 'active_processes', 'gauge', 'The number of active processes.'),
    rule('total processes', 'total_processes', 'gauge', 'The number of idle + active processes.'),
    rule(
      'max active processes',
      'max_active_processes',
      'counter',
      'The maximum number of active processes since FPM has started.',
    ),
    rule(
      'max children reached',
      'max_children_reached',
      'counter',
      "The number of times, the process limit has been reached, when pm tries to start more children (works only for pm 'dynamic' and 'ondemand').",
    ),
    {
      ...rule(
        'slow requests',
        'slow_requests',
        'counter',
        "The number of requests that exceeded your 'request_slowlog_timeout' value.",
      ),
      required: false,
    },
  ],
})
