// The five podkit sidecars as the demo runs them: each one's config written the way its pod
// would mount it (pgbouncer.ini + userlist, envoy.yaml, fluent-bit.conf, the exporter's flag, the
// adapter's paths and POD_NAME), on free loopback ports, and the counters the page shows.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

export interface SidecarPlan {
  name: string
  pattern: string
  role: string
  bundle: string
  args: string[]
  env: Record<string, string>
  adminPort: number
  /** metric name -> label shown on the page. */
  counters: Record<string, string>
}

export interface DemoPorts {
  postgres: number
  upstream: number
  receiver: number
  nginxStatus: string
  db: number
  proxy: number
  admin: Record<string, number>
}

export const SIDECAR_NAMES = [
  'log-adapter',
  'log-shipper',
  'metrics-adapter',
  'db-ambassador',
  'http-ambassador',
] as const

export function bundleOf(root: string, name: string): string {
  return resolve(root, 'packages', name, 'dist/main.js')
}

export function planSidecars(opts: {
  root: string
  dir: string
  ports: DemoPorts
  /** database: the name the app uses; serverDb: the one on the server; poolSize: per pool. */
  db: { user: string; password: string; database: string; serverDb: string; poolSize: number }
  caFile: string
}): SidecarPlan[] {
  const { dir, ports, db } = opts
  const conf = (name: string, file: string, text: string) => {
    const d = join(dir, 'config', name)
    mkdirSync(d, { recursive: true })
    writeFileSync(join(d, file), text)
    return join(d, file)
  }
  const common = (name: string) => ({
    ADMIN_HOST: '127.0.0.1',
    ADMIN_PORT: String(ports.admin[name]),
    LOG_LEVEL: 'info',
    SHUTDOWN_GRACE: '10s',
  })
  const md5 = createHash('md5')
    .update(db.password + db.user)
    .digest('hex')
  const userlist = conf('db-ambassador', 'userlist.txt', `"${db.user}" "md5${md5}"\n`)
  const ini = conf(
    'db-ambassador',
    'pgbouncer.ini',
    `[databases]
${db.database} = host=127.0.0.1 port=${ports.postgres} dbname=${db.serverDb}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${ports.db}
auth_type = md5
auth_file = ${userlist}
pool_mode = transaction
max_client_conn = 100
default_pool_size = ${db.poolSize}
log_connections = 1
log_disconnections = 1
`,
  )
  const envoy = conf(
    'http-ambassador',
    'envoy.yaml',
    `static_resources:
  listeners:
    - name: listener_0
      address:
        socket_address: { address: 127.0.0.1, port_value: ${ports.proxy} }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: ingress_http
                route_config:
                  name: local_route
                  virtual_hosts:
                    - name: external_api
                      domains: ["*"]
                      routes:
                        - match: { prefix: "/" }
                          route: { cluster: external_api, timeout: 30s }
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
    - name: external_api
      connect_timeout: 5s
      type: STRICT_DNS
      lb_policy: ROUND_ROBIN
      load_assignment:
        cluster_name: external_api
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: { address: localhost, port_value: ${ports.upstream} }
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
          sni: localhost
          common_tls_context:
            validation_context:
              trusted_ca: { filename: ${opts.caFile} }
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: ${ports.admin['http-ambassador']} }
`,
  )
  const processed = join(dir, 'logs/processed')
  mkdirSync(processed, { recursive: true })
  conf(
    'log-shipper',
    'parsers.conf',
    `[PARSER]
    Name        json
    Format      json
`,
  )
  const fluentBit = conf(
    'log-shipper',
    'fluent-bit.conf',
    `[SERVICE]
    Flush         1
    Log_Level     info
    Parsers_File  parsers.conf

[INPUT]
    Name              tail
    Path              ${processed}/*.json
    Parser            json
    Tag               app.*
    Refresh_Interval  1
    DB                ${join(dir, 'logs/shipper.db')}

[FILTER]
    Name              modify
    Match             *
    Add               pod_name \${POD_NAME}
    Add               namespace \${POD_NAMESPACE}

[OUTPUT]
    Name              http
    Match             *
    Host              127.0.0.1
    Port              ${ports.receiver}
    URI               /ingest
    Format            json_lines
    Retry_Limit       5
`,
  )
  const b = (n: string) => bundleOf(opts.root, n)
  return [
    {
      name: 'log-adapter',
      pattern: 'adapter',
      role: 'raw app log lines → JSON records',
      bundle: b('log-adapter'),
      args: [],
      env: {
        ...common('log-adapter'),
        POD_NAME: 'podkit-demo',
        LOG_ADAPTER_INPUT_PATHS: join(dir, 'logs/raw/application.log'),
        LOG_ADAPTER_OUTPUT: join(processed, 'app.json'),
      },
      adminPort: ports.admin['log-adapter']!,
      counters: {
        podkit_log_lines_in_total: 'lines read',
        podkit_log_records_out_total: 'records adapted',
        podkit_log_unparsed_total: 'unparsed (kept raw)',
      },
    },
    {
      name: 'log-shipper',
      pattern: 'sidecar',
      role: 'JSON records → the log receiver',
      bundle: b('log-shipper'),
      args: ['-c', fluentBit],
      env: { ...common('log-shipper'), POD_NAME: 'podkit-demo', POD_NAMESPACE: 'local' },
      adminPort: ports.admin['log-shipper']!,
      counters: {
        podkit_shipper_input_records_total: 'records read',
        podkit_shipper_output_records_total: 'records shipped',
        podkit_shipper_output_retries_total: 'retries',
      },
    },
    {
      name: 'metrics-adapter',
      pattern: 'adapter',
      role: 'nginx stub_status → Prometheus',
      bundle: b('metrics-adapter'),
      args: [`-nginx.scrape-uri=${ports.nginxStatus}`],
      env: common('metrics-adapter'),
      adminPort: ports.admin['metrics-adapter']!,
      counters: {
        podkit_metrics_adapter_requests_total: 'scrapes served',
        podkit_metrics_adapter_target_fetches_total: 'status fetches',
        nginx_http_requests_total: 'nginx requests',
        nginx_connections_accepted: 'nginx connections',
      },
    },
    {
      name: 'db-ambassador',
      pattern: 'ambassador',
      role: `app → localhost:${ports.db} → PostgreSQL, pooled`,
      bundle: b('db-ambassador'),
      args: [ini],
      env: common('db-ambassador'),
      adminPort: ports.admin['db-ambassador']!,
      counters: {
        podkit_db_client_logins_total: 'client logins',
        podkit_db_client_connections: 'client connections',
        podkit_db_servers_idle: 'server connections idle',
        podkit_db_servers_active: 'server connections active',
        podkit_db_transactions_total: 'transactions',
        podkit_db_queries_total: 'queries',
      },
    },
    {
      name: 'http-ambassador',
      pattern: 'ambassador',
      role: `app → localhost:${ports.proxy} → HTTPS external API`,
      bundle: b('http-ambassador'),
      args: ['-c', envoy],
      env: common('http-ambassador'),
      adminPort: ports.admin['http-ambassador']!,
      counters: {
        podkit_http_ambassador_requests_total: 'requests proxied',
        podkit_http_ambassador_upstream_connections: 'upstream TLS connections',
        podkit_http_ambassador_upstream_errors_total: 'upstream errors',
      },
    },
  ]
}

export const isBuilt = (p: SidecarPlan) => existsSync(p.bundle)
