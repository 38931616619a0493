import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError, loadConfig } from '@podkit/runtime'
import { describe, expect, it } from 'vitest'
import { ENV_PREFIX, loadAmbassadorConfig, prepareCompat, schema } from './config.ts'
import { parseDatabaseEntry } from './connstring.ts'
import { bitnamiEnv, parsePgbouncerIni } from './pgbouncer-ini.ts'

const seedIni = fileURLToPath(new URL('../test/fixtures/seed-pgbouncer.ini', import.meta.url))

describe('pgbouncer.ini', () => {
  it("reads the seed's pgbouncer.ini verbatim", () => {
    const { config, warnings } = loadAmbassadorConfig([seedIni], {})
    expect(warnings).toEqual([])
    expect(config).toMatchObject({
      listenAddr: '0.0.0.0',
      listenPort: 5432,
      authType: 'md5',
      authFile: '/etc/pgbouncer/userlist.txt',
      poolMode: 'transaction',
      maxClientConn: 100,
      defaultPoolSize: 20,
      reservePoolSize: 5,
      reservePoolTimeout: 3000,
      logConnections: true,
    })
    const myapp = config.databaseEntries.get('myapp')!
    expect(myapp.hosts).toEqual([{ host: 'postgres.database.svc.cluster.local', port: 5432 }])
    expect(myapp.dbname).toBe('myapp')
  })

  it('warns about unknown and unimplemented keys with file:line', () => {
    const text = '[pgbouncer]\npool_mode = session\nbogus_key = 1\nlogfile = /x\n[weird]\n'
    const { warnings } = parsePgbouncerIni(text, '/etc/pgbouncer.ini')
    expect(warnings).toEqual([
      '/etc/pgbouncer.ini:3: unknown key bogus_key, ignored',
      '/etc/pgbouncer.ini:4: logfile is not implemented by db-ambassador, ignored',
      '/etc/pgbouncer.ini:5: unknown section [weird], ignored',
    ])
  })

  // Regression: auth_user in a [databases] entry (valid in PgBouncer, as is auth_user in
  // [pgbouncer], which was only warned about) stopped start-up as an unknown key.
  it('warns about PgBouncer database keys it does not implement instead of refusing the entry', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dbamb-cfg-'))
    const ini = join(dir, 'p.ini')
    writeFileSync(
      ini,
      '[databases]\napp = host=db dbname=app auth_user=pgbouncer pool_size=5\n[pgbouncer]\nauth_type = trust\n',
    )
    try {
      const { config, warnings } = loadAmbassadorConfig([ini], {})
      expect(warnings).toEqual([
        `${ini}:2: auth_user in database app is not implemented by db-ambassador, ignored`,
      ])
      expect(config.databaseEntries.get('app')).toMatchObject({ dbname: 'app', poolSize: 5 })
    } finally {
      rmSync(dir, { recursive: true })
    }
  })

  it('stops on an invalid value, naming the key and the file:line', () => {
    const text =
      '[pgbouncer]\nauth_type = trust\npool_mode = sometimes\ndefault_pool_size = many\nquery_wait_timeout = soon\n'
    const { layers } = parsePgbouncerIni(text, 'p.ini')
    let err: unknown
    try {
      loadConfig({ schema, argv: [], env: {}, envPrefix: ENV_PREFIX, layers })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConfigError)
    const msg = (err as Error).message
    expect(msg).toMatch(/poolMode: .*got "sometimes" \(from p\.ini:3\)/)
    expect(msg).toMatch(/defaultPoolSize: .*got "many" \(from p\.ini:4\)/)
    expect(msg).toMatch(/queryWaitTimeout: .*got "soon" \(from p\.ini:5\)/)
  })

  it('reports a malformed [databases] entry', () => {
    const issues: Parameters<typeof parseDatabaseEntry>[2] = []
    parseDatabaseEntry('x', "host=a port=notaport dbname='unterminated", issues)
    expect(issues[0]!.got).toMatch(/unterminated/)
    const issues2: typeof issues = []
    const e = parseDatabaseEntry(
      'y',
      "host=a,b port=5432 dbname='my db' pool_size=3 pool_mode=statement nonsense=1",
      issues2,
    )
    expect(e?.hosts).toEqual([
      { host: 'a', port: 5432 },
      { host: 'b', port: 5432 },
    ])
    expect(e?.dbname).toBe('my db')
    expect(e?.poolSize).toBe(3)
    expect(issues2.map((i) => i.got)).toEqual(['unknown key "nonsense"'])
  })
})

describe('bitnami/pgbouncer env vars', () => {
  it("maps the seed pod's env vars", () => {
    const env = {
      PGBOUNCER_DATABASE: 'myapp',
      POSTGRESQL_HOST: 'postgres.database.svc.cluster.local',
      POSTGRESQL_PORT: '5432',
      PGBOUNCER_POOL_MODE: 'transaction',
      PGBOUNCER_MAX_CLIENT_CONN: '100',
      PGBOUNCER_DEFAULT_POOL_SIZE: '20',
      POSTGRESQL_USERNAME: 'app',
      POSTGRESQL_PASSWORD: 'pw',
    }
    const { config } = loadAmbassadorConfig([], env)
    expect(config.poolMode).toBe('transaction')
    expect(config.maxClientConn).toBe(100)
    expect(config.databaseEntries.get('myapp')?.hosts[0]?.host).toBe('postgres.database.svc.cluster.local')
    expect(config.userlist).toContain('"app" "pw"')
    expect(config.adminUsers).toEqual(['app'])
    expect(config.ignoreStartupParameters).toEqual(['extra_float_digits'])
  })

  it('reads *_FILE variants and warns about unknown PGBOUNCER_ vars', () => {
    const file = fileURLToPath(new URL('../test/fixtures/seed-pgbouncer.ini', import.meta.url))
    const r = bitnamiEnv({ PGBOUNCER_AUTH_TYPE_FILE: file, PGBOUNCER_NOPE: '1' })
    expect(r.warnings).toEqual(['env PGBOUNCER_NOPE: not a known PgBouncer setting, ignored'])
    expect(r.layers.find((l) => 'authType' in l.values)!.values.authType).toBe(
      readFileSync(file, 'utf8').replace(/\n$/, ''),
    )
  })

  it('lets pgbouncer.ini win over env vars and DB_AMBASSADOR_* win over both', () => {
    const p = prepareCompat([seedIni], { PGBOUNCER_POOL_MODE: 'session', PGBOUNCER_DEFAULT_POOL_SIZE: '3' })
    const { config } = loadConfig({
      schema,
      argv: p.argv,
      env: { DB_AMBASSADOR_MAX_CLIENT_CONN: '7' },
      envPrefix: ENV_PREFIX,
      layers: p.layers,
    })
    expect(config.poolMode).toBe('transaction')
    expect(config.defaultPoolSize).toBe(20)
    expect(config.maxClientConn).toBe(7)
  })
})
