// deploy/compose/docker-compose.yml: `docker-compose config` accepts it, it is one pod (every
// sidecar in the app's network namespace, locked down as in the k8s folders), it names our images,
// and each podkit service, run from its staged image with the compose file's mounts, env and
// command, accepts its configuration (--check-config).
import { execFileSync, spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { createTestPki } from '@podkit/test-utils'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { ROOT } from '../src/paths.ts'
import { runContainer } from '../src/pod-sandbox.ts'
import type { K8sObject } from '../src/seed.ts'
import { SERVICES, serviceByImage } from '../src/services.ts'

// These start processes from staged images (and pnpm installs); a loaded 2-core CI machine is slow.
vi.setConfig({ testTimeout: 120_000 })

const DIR = join(ROOT, 'deploy/compose')
const FILE = join(DIR, 'docker-compose.yml')

function composeBinary(): string[] {
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose']
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0)
    return ['docker', 'compose']
  throw new Error(
    'neither docker-compose nor the docker compose plugin is installed: apt-get install docker-compose',
  )
}

const raw = parseYaml(readFileSync(FILE, 'utf8'))

describe('docker-compose.yml', () => {
  it('docker-compose config accepts it', () => {
    const [bin, ...pre] = composeBinary()
    const r = spawnSync(bin!, [...pre, '-f', FILE, 'config', '-q'], { encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
  })

  // The file as compose resolves it (anchors merged, ${PODKIT_VERSION} filled in).
  const resolved = () => {
    const [bin, ...pre] = composeBinary()
    return parseYaml(execFileSync(bin!, [...pre, '-f', FILE, 'config'], { encoding: 'utf8' }))
  }

  it('runs every podkit service in the app container network namespace, read-only, non-root, no capabilities', () => {
    const services = resolved().services as Record<string, any>
    const ours = Object.entries(services).filter(([, s]) => serviceByImage(s.image.replace(/:.*/, '')))
    expect(ours.map(([, s]) => serviceByImage(s.image.replace(/:.*/, ''))!.name).sort()).toEqual(
      SERVICES.map((s) => s.name).sort(),
    )
    for (const [name, s] of ours) {
      expect(s.network_mode, name).toBe('service:app')
      expect(s.read_only, name).toBe(true)
      expect(s.user, name).toBe('1000:1000')
      expect(s.cap_drop, name).toEqual(['ALL'])
      expect(s.image).toMatch(/^ghcr\.io\/podkit\/[a-z-]+:\d+\.\d+\.\d+$/)
    }
    expect(services['demo-app'].network_mode).toBe('service:app')
    // The pod's ports are published by the app container only.
    for (const [name, s] of Object.entries(services))
      if (s.network_mode === 'service:app') expect(s.ports, name).toBeUndefined()
  })

  it('has the rest of the story: PostgreSQL, the HTTPS external API, a log aggregator, Prometheus', () => {
    const services = raw.services as Record<string, any>
    for (const s of ['postgres', 'external-api', 'fluentd', 'prometheus'])
      expect(services[s], s).toBeDefined()
    const prom = parseYaml(readFileSync(join(DIR, 'prometheus/prometheus.yml'), 'utf8'))
    const targets = prom.scrape_configs.flatMap((c: any) => c.static_configs.flatMap((s: any) => s.targets))
    expect(targets).toContain('app:9113')
  })

  let pki: ReturnType<typeof createTestPki> | undefined
  afterAll(() => pki?.cleanup())

  it('each podkit service accepts its configuration as mounted (--check-config in its staged image)', () => {
    const services = resolved().services as Record<string, any>
    let checked = 0
    for (const [name, s] of Object.entries(services)) {
      const svc = serviceByImage(s.image.replace(/:.*/, ''))
      if (!svc) continue
      // The compose service as a pod: bind mounts become ConfigMap volumes, named volumes emptyDirs.
      const objects: K8sObject[] = []
      const volumes: any[] = []
      const volumeMounts: any[] = []
      for (const [i, entry] of (s.volumes ?? []).entries()) {
        const vname = `v${i}`
        // docker-compose 1.x prints the short form "source:target[:mode]", v2 the long form.
        const v =
          typeof entry === 'string'
            ? (([source, target]) => ({
                type: /^[./]/.test(source!) ? 'bind' : 'volume',
                source: source!,
                target: target!,
              }))(entry.split(':'))
            : entry
        if (v.type === 'bind') {
          const src = resolve(DIR, v.source)
          const files = statSync(src).isDirectory()
            ? Object.fromEntries(readdirSync(src).map((f) => [f, readFileSync(join(src, f), 'utf8')]))
            : { [basename(src)]: readFileSync(src, 'utf8') }
          objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: vname }, data: files })
          volumes.push({ name: vname, configMap: { name: vname } })
          volumeMounts.push(
            statSync(src).isDirectory()
              ? { name: vname, mountPath: v.target }
              : { name: vname, mountPath: v.target, subPath: basename(src) },
          )
        } else if (v.source === 'certs') {
          pki ??= createTestPki({ dns: ['external-api'] })
          objects.push({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: vname },
            data: { 'ca.crt': pki.ca.cert },
          })
          volumes.push({ name: vname, configMap: { name: vname } })
          volumeMounts.push({ name: vname, mountPath: v.target })
        } else {
          volumes.push({ name: vname, emptyDir: {} })
          volumeMounts.push({ name: vname, mountPath: v.target })
        }
      }
      const container = {
        name,
        command: s.entrypoint,
        args: s.command,
        env: Object.entries(s.environment ?? {}).map(([k, value]) => ({ name: k, value: String(value) })),
        volumeMounts,
      }
      const deployment = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: `compose-${name}` },
        spec: { template: { spec: { securityContext: { runAsUser: 1000, fsGroup: 1000 }, volumes } } },
      }
      const r = runContainer({
        objects,
        deployment,
        container,
        service: svc.name,
        extraArgs: ['--check-config'],
      })
      expect(r.code, `${name}: ${r.stdout}\n${r.stderr}`).toBe(0)
      expect(r.stdout).toContain('configuration is valid')
      checked++
    }
    expect(checked).toBe(SERVICES.length)
  })
})

describe('Grafana dashboard of the compose demo', () => {
  const dashboard = JSON.parse(readFileSync(join(DIR, 'grafana/dashboards/podkit.json'), 'utf8'))
  // Every metric a panel queries, as the service that exposes it defines it.
  const sources = SERVICES.flatMap((s) => sourceFiles(join(ROOT, 'packages', s.name, 'src')))
    .concat(sourceFiles(join(ROOT, 'packages/log-pipeline/src')))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n')

  it('queries only metrics (and labels) our services expose', () => {
    const exprs: string[] = dashboard.panels.flatMap((p: { targets: Array<{ expr: string }> }) =>
      p.targets.map((t) => t.expr),
    )
    expect(exprs.length).toBeGreaterThan(5)
    for (const expr of exprs) {
      for (const metric of expr.match(/\b(?:nginx|podkit)_[a-z_]+/g) ?? [])
        expect(sources, `${metric} in ${expr}`).toContain(`'${metric}'`)
      for (const label of [...expr.matchAll(/by \(([a-z_]+)\)/g)].map((m) => m[1]!))
        expect(sources, `label ${label} in ${expr}`).toContain(`'${label}'`)
    }
  })

  it('is provisioned with Prometheus as its data source', () => {
    const ds = parseYaml(readFileSync(join(DIR, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8'))
    expect(ds.datasources[0]).toMatchObject({
      type: 'prometheus',
      url: 'http://prometheus:9090',
      uid: 'prometheus',
    })
    for (const p of dashboard.panels) expect(p.datasource.uid).toBe('prometheus')
  })
})

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}
