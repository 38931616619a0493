// The k8s/ folders: each renders with kubectl kustomize, every object validates against the
// Kubernetes OpenAPI schemas, and the project's own rules hold: images are ours or the app's,
// sidecars are native, the seed's security context, limits and ConfigMaps are kept, probes hit
// the admin port each service really listens on, drains fit the grace period, and each podkit
// container, run from its staged image with the pod's mounts, accepts its config (--check-config).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createTestPki, waitFor } from '@podkit/test-utils'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { kustomize } from '../src/kubectl.ts'
import { ROOT } from '../src/paths.ts'
import { runContainer, startContainer } from '../src/pod-sandbox.ts'
import {
  type K8sObject,
  SEED_CONTAINER_SECURITY,
  SEED_POD_SECURITY,
  seedConfigMapData,
  seedObjects,
} from '../src/seed.ts'
import { hasBundle, SERVICES, schemaAdminPort, serviceByImage } from '../src/services.ts'
import { validateObject } from '../src/validate.ts'

// These start processes from staged images (and pnpm installs); a loaded 2-core CI machine is slow.
vi.setConfig({ testTimeout: 120_000 })

interface Pattern {
  dir: string
  /** The seed's pod this folder deploys, to compare limits with. */
  seedPod: string
  /** Names of the app's containers (their images are the app's, not ours). */
  apps: string[]
  /** Third-party sidecars kept from the seed because podkit has no replacement for them. */
  thirdParty?: string[]
  /** ConfigMaps copied from the seed: our generated name -> the seed's name. */
  seedConfigMaps?: Record<string, string>
}

const PATTERNS: Pattern[] = [
  {
    dir: 'logging-sidecar',
    seedPod: 'app-with-logging-sidecar',
    apps: ['app'],
    seedConfigMaps: { 'fluent-bit-config': 'fluent-bit-config' },
  },
  { dir: 'log-adapter', seedPod: 'app-with-log-adapter', apps: ['app'] },
  { dir: 'metrics-adapter', seedPod: 'app-with-metrics-adapter', apps: ['app'] },
  {
    dir: 'db-ambassador',
    seedPod: 'app-with-db-ambassador',
    apps: ['app'],
    seedConfigMaps: { 'pgbouncer-config': 'pgbouncer-config' },
  },
  {
    dir: 'http-ambassador',
    seedPod: 'app-with-envoy-ambassador',
    apps: ['app'],
    seedConfigMaps: { 'envoy-ambassador-config': 'envoy-ambassador-config' },
  },
  { dir: 'http-ambassador-mesh', seedPod: 'microservice-with-mesh', apps: ['orders-service'] },
  {
    dir: 'full-observability',
    seedPod: 'web-app-full-stack',
    apps: ['app'],
    thirdParty: ['prom/statsd-exporter:v0.26.0', 'otel/opentelemetry-collector-contrib:0.92.0'],
    seedConfigMaps: { 'fluent-bit-config': 'fluent-bit-config' },
  },
]

const render = (dir: string): K8sObject[] =>
  parseAllDocuments(kustomize(join(ROOT, 'k8s', dir)))
    .map((d) => d.toJS() as K8sObject)
    .filter(Boolean)

const deploymentOf = (objs: K8sObject[]) => {
  const d = objs.filter((o) => o.kind === 'Deployment')
  expect(d).toHaveLength(1)
  return d[0]!
}

/** "20s", "500ms", "1m" or milliseconds, as the runtime's Duration reads SHUTDOWN_GRACE. */
function graceMs(v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim())
  if (!m) throw new Error(`cannot read SHUTDOWN_GRACE=${v}`)
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[m[2] ?? 'ms']!
}

/** The admin port a podkit container listens on, from its service's schema or the envoy.yaml it runs. */
async function adminPortOf(objs: K8sObject[], dep: K8sObject, c: any, service: string): Promise<number> {
  const env = Object.fromEntries((c.env ?? []).map((e: any) => [e.name, e.value]))
  if (env.ADMIN_PORT) return Number(env.ADMIN_PORT)
  const cmd: string[] = [...(c.command ?? []), ...(c.args ?? [])]
  const i = cmd.indexOf('-c')
  if (service === 'http-ambassador' && i >= 0) {
    // Envoy's admin address comes from the config file the command names.
    const path = cmd[i + 1]!
    const mount = (c.volumeMounts ?? []).find((m: any) => path.startsWith(`${m.mountPath}/`))
    const vol = dep.spec.template.spec.volumes.find((v: any) => v.name === mount.name)
    const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === vol.configMap.name)!
    const envoy = parseYaml(cm.data[path.slice(mount.mountPath.length + 1)])
    return envoy.admin.address.socket_address.port_value
  }
  const fromSchema = await schemaAdminPort(service)
  return fromSchema ?? SERVICES.find((s) => s.name === service)!.documentedAdminPort
}

/** The mesh's service-certs Secret is made outside the folder; a test PKI stands in for it. */
let pki: ReturnType<typeof createTestPki> | undefined
function externalSecrets() {
  pki ??= createTestPki({ dns: ['orders-service'] })
  return { 'service-certs': { 'tls.crt': pki.server.cert, 'tls.key': pki.server.key, 'ca.crt': pki.ca.cert } }
}
afterAll(() => pki?.cleanup())

const legacyDirs = readdirSync(join(ROOT, 'k8s/pre-1.29'))

describe('k8s folders', () => {
  it('there is a folder for each seed pattern and a pre-1.29 variant of each', () => {
    const dirs = readdirSync(join(ROOT, 'k8s'), { withFileTypes: true })
      .filter((d) => d.isDirectory() && d.name !== 'pre-1.29')
      .map((d) => d.name)
      .sort()
    expect(dirs).toEqual(PATTERNS.map((p) => p.dir).sort())
    expect(legacyDirs.sort()).toEqual(dirs)
  })

  for (const p of PATTERNS) {
    describe(p.dir, () => {
      const objs = render(p.dir)
      const dep = deploymentOf(objs)
      const spec = dep.spec.template.spec
      const init: any[] = spec.initContainers ?? []
      const all: any[] = [...init, ...spec.containers]
      const seedPod = seedObjects().find((o) => o.kind === 'Pod' && o.metadata.name === p.seedPod)!

      it('every object validates against the Kubernetes OpenAPI schemas', () => {
        expect(objs.length).toBeGreaterThan(1)
        expect(objs.flatMap(validateObject)).toEqual([])
      })

      it('names only our images, the app image and the listed third-party ones', () => {
        for (const c of all) {
          if (p.apps.includes(c.name)) continue
          const ours = serviceByImage(c.image)
          if (!ours) expect(p.thirdParty ?? [], `container ${c.name}: ${c.image}`).toContain(c.image)
          else expect(c.image).toMatch(/^ghcr\.io\/podkit\/[a-z-]+:\d+\.\d+\.\d+$/)
        }
        expect(all.some((c) => serviceByImage(c.image))).toBe(true)
      })

      it('runs every sidecar as a native sidecar and the app as a regular container', () => {
        for (const c of init) expect(c.restartPolicy, c.name).toBe('Always')
        for (const c of spec.containers)
          expect(p.apps, `${c.name} is a sidecar in containers`).toContain(c.name)
      })

      it("keeps the seed's security context and resource limits on every container", () => {
        expect(spec.securityContext).toEqual(SEED_POD_SECURITY)
        const seedContainers: any[] = [...(seedPod.spec.initContainers ?? []), ...seedPod.spec.containers]
        for (const c of all) {
          expect(c.securityContext, c.name).toEqual(SEED_CONTAINER_SECURITY)
          for (const k of ['requests', 'limits'])
            for (const r of ['memory', 'cpu'])
              expect(c.resources?.[k]?.[r], `${c.name} ${k}.${r}`).toBeTruthy()
          const seedC = seedContainers.find((s) => s.name === c.name)
          if (seedC?.resources) expect(c.resources, `${c.name} vs the seed`).toEqual(seedC.resources)
        }
      })

      it('probes each podkit sidecar on the admin port its service listens on, and it says so in ports', async () => {
        for (const c of init) {
          const svc = serviceByImage(c.image)
          if (!svc) continue
          const port = await adminPortOf(objs, dep, c, svc.name)
          for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
            expect(c[probe]?.httpGet?.port, `${c.name} ${probe}`).toBe(port)
          }
          expect(c.readinessProbe.httpGet.path).toBe('/ready')
          expect(c.livenessProbe.httpGet.path).toBe('/healthz')
          expect(c.ports.map((x: any) => x.containerPort)).toContain(port)
        }
      })

      it('drains within the pod grace period', () => {
        const tgps = spec.terminationGracePeriodSeconds * 1000
        // Native sidecars stop after the app, one after another in reverse order: all must fit.
        const appPreStop = Math.max(
          0,
          ...spec.containers.map((c: any) => {
            const cmd = (c.lifecycle?.preStop?.exec?.command ?? []).join(' ')
            return Number(/sleep (\d+)/.exec(cmd)?.[1] ?? 0) * 1000
          }),
        )
        let total = appPreStop
        for (const c of init) {
          if (!serviceByImage(c.image)) continue
          const g = (c.env ?? []).find((e: any) => e.name === 'SHUTDOWN_GRACE')?.value
          expect(g, `${c.name} sets SHUTDOWN_GRACE`).toBeDefined()
          total += graceMs(g, 0)
        }
        expect(total).toBeLessThan(tgps)
      })

      it('each podkit sidecar, started from its staged image in the pod network, answers its probes', async () => {
        for (const c of init) {
          const svc = serviceByImage(c.image)
          if (!svc) continue
          const run = startContainer({
            objects: objs,
            deployment: dep,
            container: c,
            service: svc.name,
            external: externalSecrets(),
            ownNetwork: true,
          })
          try {
            const live = c.livenessProbe.httpGet
            await waitFor(
              () => run.httpGet(live.port, live.path) === 200,
              45_000,
              `${c.name} ${live.path}`,
            ).catch((err: Error) => {
              throw new Error(`${err.message}\n${run.output()}`)
            })
            // Ready may wait for peers this sandbox does not have (Fluentd, PostgreSQL, DNS), but
            // the service itself must answer on the probe's port and path: 200 or 503.
            for (const probe of ['startupProbe', 'readinessProbe']) {
              const g = c[probe].httpGet
              expect([200, 503], `${c.name} ${probe} ${g.path}:${g.port}`).toContain(
                run.httpGet(g.port, g.path),
              )
            }
          } finally {
            run.kill('SIGKILL')
            await run.exited
          }
        }
      }, 90_000)

      if (p.seedConfigMaps) {
        it("carries the seed's ConfigMaps verbatim", () => {
          for (const [ours, seeds] of Object.entries(p.seedConfigMaps!)) {
            const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith(`${ours}-`))
            expect(cm, ours).toBeDefined()
            expect(cm!.data).toEqual(seedConfigMapData(seeds))
          }
        })
      }

      it('each podkit container accepts its configuration as mounted (--check-config in its staged image)', () => {
        let checked = 0
        for (const c of init) {
          const svc = serviceByImage(c.image)
          if (!svc) continue
          expect(hasBundle(svc.name), `${svc.name} is built (pnpm build)`).toBe(true)
          const r = runContainer({
            objects: objs,
            deployment: dep,
            container: c,
            service: svc.name,
            extraArgs: ['--check-config'],
            external: externalSecrets(),
          })
          expect(r.code, `${c.name}: ${r.stdout}\n${r.stderr}`).toBe(0)
          expect(r.stdout).toContain('configuration is valid')
          checked++
        }
        expect(checked).toBeGreaterThan(0)
      })
    })
  }

  for (const dir of legacyDirs) {
    it(`pre-1.29/${dir} moves every sidecar into containers and validates`, () => {
      const base = render(dir)
      const objs = render(`pre-1.29/${dir}`)
      expect(objs.flatMap(validateObject)).toEqual([])
      const spec = deploymentOf(objs).spec.template.spec
      const baseSpec = deploymentOf(base).spec.template.spec
      expect(spec.initContainers).toBeUndefined()
      expect(spec.containers.map((c: any) => c.name).sort()).toEqual(
        [...baseSpec.initContainers, ...baseSpec.containers].map((c: any) => c.name).sort(),
      )
      for (const c of spec.containers) expect(c.restartPolicy).toBeUndefined()
    })
  }
})

describe('seed ConfigMaps copied as files', () => {
  it('the envoy.yaml, pgbouncer.ini, fluent-bit.conf and parsers.conf files equal the seed', () => {
    const read = (f: string) => readFileSync(join(ROOT, 'k8s', f), 'utf8')
    expect(read('logging-sidecar/fluent-bit.conf')).toBe(
      seedConfigMapData('fluent-bit-config')['fluent-bit.conf'],
    )
    expect(read('logging-sidecar/parsers.conf')).toBe(seedConfigMapData('fluent-bit-config')['parsers.conf'])
    expect(read('db-ambassador/pgbouncer.ini')).toBe(seedConfigMapData('pgbouncer-config')['pgbouncer.ini'])
    expect(read('http-ambassador/envoy.yaml')).toBe(
      seedConfigMapData('envoy-ambassador-config')['envoy.yaml'],
    )
  })
})
