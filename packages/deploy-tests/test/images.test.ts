// The images: each Dockerfile follows the one pattern (multi-stage, frozen-lockfile install, the
// bundle staged by scripts/image-rootfs.mjs, distroless Node LTS, numeric non-root USER, EXPOSE of
// the service's ports, OCI labels, node as the exec-form entrypoint), the bake file and the release
// workflow build all five, and the staged image itself runs here: --help from a read-only root,
// the compat command shims, and a start and SIGTERM drain with node as PID 1.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, startPostgres, waitFor } from '@podkit/test-utils'
import { describe, expect, it, vi } from 'vitest'
import { parse as parseYaml } from 'yaml'
import { runBuildStage } from '../src/build-stage.ts'
import { ROOT } from '../src/paths.ts'
import { type ContainerSpec, runContainer, startContainer } from '../src/pod-sandbox.ts'
import type { VolumeMount } from '../src/pod-spec.ts'
import type { K8sObject } from '../src/seed.ts'
import { hasBundle, imageNodeArgs, imageNodeOptions, SERVICES, schemaAdminPort } from '../src/services.ts'

// These start processes from staged images (and pnpm installs); a loaded 2-core CI machine is slow.
vi.setConfig({ testTimeout: 120_000 })

const SHIMS: Record<string, string[]> = {
  'http-ambassador': ['envoy', '/usr/local/bin/envoy'],
  'log-shipper': ['/fluent-bit/bin/fluent-bit'],
  'metrics-adapter': ['/usr/bin/nginx-prometheus-exporter'],
  'log-adapter': [],
  'db-ambassador': [],
}

/** A Deployment with one container, as runContainer expects, for the image alone. */
function bare(service: string, container: Record<string, unknown>, uid = 65532): ContainerSpec {
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `image-${service}` },
    spec: {
      template: {
        spec: {
          securityContext: { runAsUser: uid, fsGroup: uid },
          volumes: [] as Array<Record<string, unknown>>,
        },
      },
    },
  }
  return { objects: [] as K8sObject[], deployment, container: { name: service, ...container }, service }
}

describe('Dockerfiles', () => {
  for (const svc of SERVICES) {
    it(`${svc.name}: multi-stage, distroless, non-root, its ports, labels, node as entrypoint`, async () => {
      const df = readFileSync(join(ROOT, 'packages', svc.name, 'Dockerfile'), 'utf8')
      const froms = [...df.matchAll(/^FROM (\S+)(?: AS (\S+))?/gm)]
      expect(froms).toHaveLength(2)
      expect(froms[0]![1]).toBe('node:${NODE_MAJOR}-trixie-slim')
      expect(froms[1]![1]).toBe('gcr.io/distroless/nodejs${NODE_MAJOR}-debian13:nonroot')
      // The current Node LTS (26 'Lithium', Active LTS since 2026-10-28; 24 is in maintenance).
      expect(df).toMatch(/^ARG NODE_MAJOR=26$/m)
      expect(df).toContain(`pnpm install --frozen-lockfile --filter "@podkit/${svc.name}..." --filter podkit`)
      expect(df).toContain(`cd packages/${svc.name} && node ../../scripts/build.mjs`)
      expect(df).toContain(`node /src/scripts/image-rootfs.mjs ${svc.name} /rootfs --node /nodejs/bin/node`)
      expect(df).toMatch(/^COPY --from=build --chown=0:0 \/rootfs\/ \/$/m)
      const user = /^USER (\S+)$/m.exec(df)?.[1]
      expect(user).toMatch(/^[1-9]\d*:[1-9]\d*$/)
      const exposed = /^EXPOSE (.+)$/m
        .exec(df)![1]!
        .split(/\s+/)
        .map(Number)
        .sort((a, b) => a - b)
      const admin = (await schemaAdminPort(svc.name)) ?? svc.documentedAdminPort
      expect(exposed).toEqual([admin, ...svc.dataPorts].sort((a, b) => a - b))
      for (const label of ['title', 'description', 'source', 'licenses', 'version', 'revision', 'created'])
        expect(df).toContain(`org.opencontainers.image.${label}=`)
      // Exec form: node, the V8 flags the benchmarks measured with (package.json podkit.nodeArgs),
      // the bundle.
      const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(df)
      expect(entrypoint, 'ENTRYPOINT [...]').not.toBeNull()
      expect(JSON.parse(entrypoint![1]!)).toEqual([
        '/nodejs/bin/node',
        ...imageNodeArgs(svc.name),
        '/app/main.js',
      ])
      // The heap limits the benchmarks measured with (package.json podkit.nodeOptions) are the
      // ones the image sets.
      const env = /^ENV NODE_ENV=production(?: NODE_OPTIONS="([^"]*)")?$/m.exec(df)
      expect(env, 'ENV NODE_ENV=production [NODE_OPTIONS="..."]').not.toBeNull()
      expect(env![1] ?? '').toBe(imageNodeOptions(svc.name))
      // No shell form anywhere in the final stage, and nothing installed there.
      const final = df.slice(df.indexOf(froms[1]![0]))
      expect(final).not.toMatch(/^RUN /m)
    })
  }

  it('.dockerignore keeps node_modules, dist and tests out of the build context', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n')
    for (const p of ['**/node_modules', '**/dist', '.git', '**/test']) expect(ignore).toContain(p)
  })

  it('docker-bake.hcl builds every image as ghcr.io/podkit/<service>:<version>', () => {
    const hcl = readFileSync(join(ROOT, 'docker-bake.hcl'), 'utf8')
    expect(hcl).toMatch(/variable "REGISTRY" \{\s*default = "ghcr.io\/podkit"/)
    const group = /group "default" \{\s*targets = \[([^\]]*)\]/.exec(hcl)![1]!
    expect(
      group
        .split(',')
        .map((s) => s.trim().replace(/"/g, ''))
        .sort(),
    ).toEqual(SERVICES.map((s) => s.name).sort())
    for (const s of SERVICES) {
      const block = new RegExp(`target "${s.name}" \\{([^}]*)\\}`).exec(hcl)?.[1]
      expect(block, s.name).toBeDefined()
      expect(block).toContain(`dockerfile = "packages/${s.name}/Dockerfile"`)
      expect(block).toContain(`tags       = tags("${s.name}")`)
    }
    expect(hcl).toContain('["${REGISTRY}/${name}:${VERSION}"]')
  })

  it('the images workflow builds on pull requests and publishes multi-arch on version tags', () => {
    const wf = parseYaml(readFileSync(join(ROOT, '.github/workflows/images.yml'), 'utf8'))
    expect(wf.on.push.tags).toEqual(['v*.*.*'])
    expect(wf.on.pull_request).toBeDefined()
    const steps: any[] = wf.jobs.bake.steps
    const bake = steps.find((s) => String(s.uses).startsWith('docker/bake-action'))
    expect(bake.with.files).toBe('docker-bake.hcl')
    expect(bake.with.set).toContain('*.platform=linux/amd64,linux/arm64')
    expect(bake.with.push).toBe('${{ steps.meta.outputs.push }}')
    const login = steps.find((s) => String(s.uses).startsWith('docker/login-action'))
    expect(login.if).toBe("startsWith(github.ref, 'refs/tags/v')")
    expect(wf.permissions.packages).toBe('write')
  })
})

describe("each Dockerfile's build stage, run here without Docker", () => {
  for (const svc of SERVICES) {
    it(`${svc.name}: frozen-lockfile install, bundle, and a /rootfs of only the bundle and its shims`, () => {
      const r = runBuildStage(join(ROOT, 'packages', svc.name, 'Dockerfile'))
      try {
        const files = listFiles(r.rootfs)
        expect(files).toEqual(
          [
            'app/main.js',
            'app/package.json',
            // What the bundle imports on first use (scripts/build.mjs splits dynamic imports out).
            ...bundleChunks(r.dir, svc.name).map((f) => `app/chunks/${f}`),
            ...SHIMS[svc.name]!.filter((s) => s.startsWith('/')).map((s) => s.slice(1)),
          ]
            .filter((f, i, a) => a.indexOf(f) === i)
            .sort(),
        )
        const help = spawnSync(process.execPath, [join(r.rootfs, 'app/main.js'), '--help'], {
          encoding: 'utf8',
        })
        expect(help.status, help.stderr).toBe(0)
        expect(help.stdout).toContain(`podkit-${svc.name}`)
        // A YAML config file needs the parser the bundle loads on first use, from app/chunks/.
        const yamlFile = join(r.dir, 'config.yaml')
        writeFileSync(yamlFile, 'logLevel: warn\n')
        const check = spawnSync(
          process.execPath,
          [join(r.rootfs, 'app/main.js'), `--config=${yamlFile}`, '--check-config'],
          {
            encoding: 'utf8',
          },
        )
        expect(check.stderr).not.toMatch(/cannot (parse|read) config file/)
      } finally {
        r.cleanup()
      }
    }, 120_000)
  }

  it('installs the pnpm that package.json names', () => {
    const pm = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).packageManager as string
    for (const svc of SERVICES)
      expect(readFileSync(join(ROOT, 'packages', svc.name, 'Dockerfile'), 'utf8')).toContain(
        `RUN npm install -g ${pm}\n`,
      )
  })
})

/** The chunk files the build stage's bundle step wrote (dist/chunks/*.js of the service). */
function bundleChunks(buildDir: string, service: string): string[] {
  const dir = join(buildDir, 'src', 'packages', service, 'dist', 'chunks')
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.js')) : []
}

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(dir, join(prefix, e.name)) : [join(prefix, e.name)]))
    .sort()
}

describe('staged images run without Docker', () => {
  for (const svc of SERVICES) {
    describe(svc.name, () => {
      it('is built', () => {
        expect(hasBundle(svc.name), `packages/${svc.name}/dist/main.js (pnpm build)`).toBe(true)
      })
      if (!hasBundle(svc.name)) return

      it('answers --help from a read-only root as a non-root user, through the entrypoint and every shim', () => {
        for (const command of [undefined, ...SHIMS[svc.name]!.map((s) => [s])]) {
          const r = runContainer({ ...bare(svc.name, command ? { command } : {}), extraArgs: ['--help'] })
          expect(r.code, `${command ?? 'entrypoint'}: ${r.stdout}${r.stderr}`).toBe(0)
          expect(r.stdout).toContain(`podkit-${svc.name}`)
        }
      })

      it('rejects an unknown option with a message naming it and a non-zero exit', () => {
        const r = runContainer({ ...bare(svc.name, {}), extraArgs: ['--no-such-option=1'] })
        expect(r.code).not.toBe(0)
        expect(r.stdout + r.stderr).toContain('no-such-option')
      })
    })
  }
})

interface StartSpec {
  env: Record<string, string>
  /** Files mounted from a ConfigMap: mount path -> file name -> content. */
  files?: Record<string, Record<string, string>>
  /** Writable emptyDir mounts. */
  emptyDirs?: string[]
  cleanup?: () => Promise<void>
}

/** What each service needs to start with nothing else around; its defaults find the mounts. */
const START: Record<string, () => Promise<StartSpec>> = {
  'metrics-adapter': async () => ({ env: {} }),
  'http-ambassador': async () => ({ env: { UPSTREAM_URL: 'https://127.0.0.1:9', LISTEN_PORT: '0' } }),
  'log-adapter': async () => ({
    env: { POD_NAME: 'image-test' },
    emptyDirs: ['/raw-logs', '/processed-logs'],
  }),
  'log-shipper': async () => ({
    env: {},
    emptyDirs: ['/var/log/app'],
    // The image's default config path, as the seed mounts it.
    files: {
      '/fluent-bit/etc': {
        'fluent-bit.conf':
          '[SERVICE]\n    Flush 1\n\n[INPUT]\n    Name tail\n    Path /var/log/app/*.log\n\n[OUTPUT]\n    Name stdout\n    Match *\n',
      },
    },
  }),
  'db-ambassador': async () => {
    // A real PostgreSQL, so that /ready (which needs the upstream) can turn 200.
    const pg = await startPostgres({ auth: 'md5', user: 'app', password: 'app-pw', database: 'app' })
    const md5 = createHash('md5').update('app-pwapp').digest('hex')
    return {
      env: {},
      // The bitnami image's paths, as the seed mounts them.
      files: {
        '/bitnami/pgbouncer/conf': {
          'pgbouncer.ini': `[databases]\napp = host=127.0.0.1 port=${pg.port} dbname=app\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = ${await freePort()}\nauth_type = md5\nauth_file = /etc/pgbouncer/userlist.txt\n`,
        },
        '/etc/pgbouncer': { 'userlist.txt': `"app" "md5${md5}"\n` },
      },
      cleanup: () => pg.stop(),
    }
  },
}

describe('node as PID 1 becomes ready, drains on SIGTERM and exits 0 (read-only root)', () => {
  it('covers every service', () => {
    expect(Object.keys(START).sort()).toEqual(SERVICES.map((s) => s.name).sort())
  })
  for (const [service, makeSpec] of Object.entries(START)) {
    it(service, async () => {
      expect(hasBundle(service)).toBe(true)
      const spec = await makeSpec()
      const port = await freePort()
      const env = { ADMIN_HOST: '127.0.0.1', ADMIN_PORT: String(port), ...spec.env }
      const base = bare(service, { env: Object.entries(env).map(([name, value]) => ({ name, value })) })
      const podSpec = base.deployment.spec.template.spec
      const mounts: VolumeMount[] = []
      for (const [i, path] of (spec.emptyDirs ?? []).entries()) {
        podSpec.volumes.push({ name: `e${i}`, emptyDir: {} })
        mounts.push({ name: `e${i}`, mountPath: path })
      }
      for (const [i, [path, data]] of Object.entries(spec.files ?? {}).entries()) {
        base.objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${i}` }, data })
        podSpec.volumes.push({ name: `c${i}`, configMap: { name: `c${i}` } })
        mounts.push({ name: `c${i}`, mountPath: path })
      }
      base.container.volumeMounts = mounts
      const c = startContainer(base)
      try {
        await waitFor(
          async () => (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200,
          45_000,
          `${service} /ready on ${port}`,
        ).catch((err: Error) => {
          throw new Error(`${err.message}\n${c.output()}`)
        })
        const pid = c.pid()!
        // It really is PID 1 of its namespace.
        expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^NSpid:\s+\d+\s+1$/m)
        c.kill('SIGTERM')
        expect(await c.exited, c.output()).toBe(0)
        expect(c.output()).toMatch(/Drained; exiting/)
      } finally {
        c.kill('SIGKILL')
        await spec.cleanup?.()
      }
    })
  }
})
