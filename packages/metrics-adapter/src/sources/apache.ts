// Apache httpd's machine-readable status page, `mod_status` with `?auto`
// (https://httpd.apache.org/docs/2.4/mod/mod_status.html), with the metric names of the
// community apache_exporter so its dashboards work. Declared, not coded: see source.ts.

import { defineSource } from '../source.ts'

// Scoreboard characters as documented in mod_status's legend.
const SCOREBOARD = {
  _: 'idle',
  S: 'startup',
  R: 'read',
  W: 'reply',
  K: 'keepalive',
  D: 'dns',
  C: 'closing',
  L: 'logging',
  G: 'graceful_stop',
  I: 'idle_cleanup',
  '.': 'open_slot',
}

export const apacheSource = defineSource({
  name: 'apache',
  up: { name: 'apache_up', help: 'Could the apache server be reached' },
  rules: [
    // Present only with ExtendedStatus On (the default since httpd 2.3.6).
    {
      key: 'Total Accesses',
      metric: 'apache_accesses_total',
      type: 'counter',
      help: 'Current total apache accesses (*)',
      required: false,
    },
    {
      key: 'Total kBytes',
      metric: 'apache_sent_kilobytes_total',
      type: 'counter',
      help: 'Current total kbytes sent (*)',
      required: false,
    },
    {
      key: 'Total Duration',
      metric: 'apache_duration_ms_total',
      type: 'counter',
      help: 'Total duration of all registered requests in ms',
      required: false,
    },
    {
      key: 'Uptime',
      metric: 'apache_uptime_seconds_total',
      type: 'counter',
      help: 'Current uptime in seconds (*)',
      required: false,
    },
    {
      key: 'CPULoad',
      metric: 'apache_cpuload',
      type: 'gauge',
      help: 'The current percentage CPU used by each worker and in total by all workers combined (*)',
      required: false,
    },
    {
      key: 'BusyWorkers',
      metric: 'apache_workers',
      type: 'gauge',
      help: 'Apache worker statuses',
      labels: { state: 'busy' },
    },
    {
      key: 'IdleWorkers',
      metric: 'apache_workers',
      type: 'gauge',
      help: 'Apache worker statuses',
      labels: { state: 'idle' },
    },
    ...(
      [
        ['ConnsTotal', 'total'],
        ['ConnsAsyncWriting', 'writing'],
        ['ConnsAsyncKeepAlive', 'keepalive'],
        ['ConnsAsyncClosing', 'closing'],
      ] as const
    ).map(([key, state]) => ({
      key,
      metric: 'apache_connections',
      type: 'gauge' as const,
      help: 'Apache connection statuses',
      labels: { state },
      required: false,
    })),
    {
      key: 'Scoreboard',
      metric: 'apache_scoreboard',
      type: 'gauge',
      help: 'Apache scoreboard statuses',
      countChars: { label: 'state', map: SCOREBOARD },
    },
  ],
})
