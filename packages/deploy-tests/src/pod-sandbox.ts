// Runs one container of a rendered pod spec the way a kubelet would, without Docker: the image's
// files (staged by scripts/image-rootfs.mjs, as the Dockerfile does) become a read-only root
// (readOnlyRootFilesystem), the pod's ConfigMaps and Secrets are mounted where the spec mounts
// them, emptyDirs are tmpfs, and the container's command, args and env run under chroot as the
// pod's runAsUser, in a private mount namespace (unshare). The host's node stands in for the
// distroless one at /nodejs/bin/node. Needs root, as the tests on these machines have.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { ROOT } from './paths.ts'
import type { ContainerSpecLike, PodSpecLike, VolumeMount } from './pod-spec.ts'
import type { K8sObject } from './seed.ts'
import { imageNodeArgs, imageNodeOptions } from './services.ts'

export interface ContainerRun {
  code: number | null
  stdout: string
  stderr: string
}

/** The image's ENTRYPOINT: node, the service's node arguments, the bundle. */
const imageEntrypoint = (service: string) => ['/nodejs/bin/node', ...imageNodeArgs(service), '/app/main.js']

/** The files a volume mount puts in the container: path inside the container -> content. */
function mountFiles(
  external: Record<string, Record<string, string>>,
  objects: K8sObject[],
  podSpec: PodSpecLike,
  mount: VolumeMount,
): Map<string, Buffer> | 'emptyDir' {
  const vol = (podSpec.volumes ?? []).find((v) => v.name === mount.name)
  if (!vol) throw new Error(`volume ${mount.name} is mounted but not declared`)
  if (vol.emptyDir) return 'emptyDir'
  let data: Record<string, Buffer>
  let items: Array<{ key: string; path: string }> | undefined
  const { configMap, secret } = vol
  if (configMap) {
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === configMap.name)
    if (!cm) throw new Error(`ConfigMap ${configMap.name} is not in the rendered output`)
    data = Object.fromEntries(Object.entries(cm.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v))]))
    items = configMap.items
  } else if (secret) {
    const s = objects.find((o) => o.kind === 'Secret' && o.metadata.name === secret.secretName)
    const ext = external[secret.secretName]
    if (!s && !ext) throw new Error(`Secret ${secret.secretName} is neither rendered nor given`)
    data = s
      ? Object.fromEntries(
          Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64')]),
        )
      : Object.fromEntries(Object.entries(ext!).map(([k, v]) => [k, Buffer.from(v)]))
    items = secret.items
  } else {
    throw new Error(`volume ${mount.name}: only configMap, secret and emptyDir volumes are supported here`)
  }
  const files = new Map<string, Buffer>()
  const entries = items ? items.map((i) => [i.path, data[i.key]!] as const) : Object.entries(data)
  for (const [path, content] of entries) {
    if (mount.subPath) {
      if (path === mount.subPath) files.set(mount.mountPath, content)
    } else files.set(join(mount.mountPath, path), content)
  }
  if (mount.subPath && files.size === 0)
    throw new Error(`subPath ${mount.subPath} is not a key of ${mount.name}`)
  return files
}

function envOf(container: ContainerSpecLike, podName: string, service: string): Record<string, string> {
  // The image's ENV (the Dockerfile's), which the pod's env may override.
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    NODE_ENV: 'production',
  }
  const nodeOptions = imageNodeOptions(service)
  if (nodeOptions) env.NODE_OPTIONS = nodeOptions
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value)
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = podName
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = 'default'
    else throw new Error(`env ${e.name}: only values and metadata fieldRefs are supported here`)
  }
  return env
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

export interface ContainerSpec {
  objects: K8sObject[]
  deployment: K8sObject
  /** The container as in the pod spec (command, args, env, volumeMounts). */
  container: ContainerSpecLike
  service: string
  /** Appended to the container's arguments, e.g. --check-config. */
  extraArgs?: string[]
  /** Secrets the folder expects to exist already (made outside it): name -> key -> content. */
  external?: Record<string, Record<string, string>>
  /**
   * Its own network namespace (loopback only), as a pod has: the ports in the manifests can be
   * bound as they are, without meeting anything else on this machine.
   */
  ownNetwork?: boolean
}

interface Prepared {
  root: string
  script: string
  cleanup(): void
}

function prepare(spec: ContainerSpec): Prepared {
  const { objects, deployment, container, service } = spec
  const podSpec = deployment.spec.template.spec
  const root = mkdtempSync(join(tmpdir(), 'podkit-pod-'))
  chmodSync(root, 0o755)
  const cleanup = () => {
    // The mounts lived in the child's private namespace and ended with it; refuse to delete if the
    // host's /usr/lib still shows through (it never should).
    const lib = join(root, 'usr/lib')
    if (!existsSync(lib) || readdirSync(lib).length === 0) rmSync(root, { recursive: true, force: true })
  }
  try {
    execFileSync(process.execPath, [join(ROOT, 'scripts/image-rootfs.mjs'), service, root], { stdio: 'pipe' })
    const uid = podSpec.securityContext?.runAsUser ?? 65532
    const gid = podSpec.securityContext?.fsGroup ?? uid
    const tmpfs: string[] = []
    for (const m of container.volumeMounts ?? []) {
      const files = mountFiles(spec.external ?? {}, objects, podSpec, m)
      if (files === 'emptyDir') {
        mkdirSync(join(root, m.mountPath), { recursive: true })
        tmpfs.push(m.mountPath)
        continue
      }
      for (const [path, content] of files) {
        const file = join(root, path)
        mkdirSync(dirname(file), { recursive: true })
        writeFileSync(file, content)
        // The kubelet gives projected files to the fsGroup, group-readable.
        chownSync(file, 0, gid)
        chmodSync(file, 0o440)
      }
    }
    for (const d of ['dev', 'proc', 'tmp', 'etc', 'nodejs/bin']) mkdirSync(join(root, d), { recursive: true })
    writeFileSync(join(root, 'etc/hosts'), '127.0.0.1 localhost\n::1 localhost\n')
    writeFileSync(
      join(root, 'etc/passwd'),
      `root:x:0:0::/root:/sbin/nologin\nnonroot:x:${uid}:${gid}::/home/nonroot:/sbin/nologin\n`,
    )
    const cmd = [
      ...(container.command ?? imageEntrypoint(spec.service)),
      ...(container.args ?? []),
      ...(spec.extraArgs ?? []),
    ]
    const env = envOf(container, `${deployment.metadata.name}-0`, spec.service)
    const script = [
      'set -e',
      ...(spec.ownNetwork ? ['ip link set lo up'] : []),
      `R=${q(root)}`,
      // Only what node needs from the host: its libraries and the binary itself; /usr/local and
      // /usr/bin stay the image's, where the compat command shims live.
      'for d in lib lib64 share; do if [ -d /usr/$d ]; then mkdir -p "$R/usr/$d"; mount --bind /usr/$d "$R/usr/$d"; fi; done',
      `mkdir -p "$R/usr/bin" && touch "$R/usr/bin/node" && mount --bind "$(readlink -f ${q(process.execPath)})" "$R/usr/bin/node"`,
      'for l in lib lib64 bin sbin; do ln -sfn usr/$l "$R/$l"; done',
      'ln -sfn /usr/bin/node "$R/nodejs/bin/node"',
      'mount --rbind /dev "$R/dev"',
      'mount -t proc proc "$R/proc"',
      ...tmpfs.map((p) => `mount -t tmpfs -o mode=1777 tmpfs "$R"${q(p)}`),
      // readOnlyRootFilesystem: the root (its /tmp too) and the host's libraries are read-only;
      // only the pod's volumes are writable.
      'mount --rbind "$R" "$R"',
      'mount -o remount,ro,bind "$R"',
      'for d in lib lib64 share; do if [ -d "$R/usr/$d" ]; then mount -o remount,ro,bind "$R/usr/$d"; fi; done',
      `cd "$R" && exec env -i ${Object.entries(env)
        .map(([k, v]) => q(`${k}=${v}`))
        .join(' ')} chroot --userspec=${uid}:${gid} "$R" ${cmd.map(q).join(' ')}`,
    ].join('\n')
    return { root, script, cleanup }
  } catch (err) {
    cleanup()
    throw err
  }
}

/** Runs the container to completion (e.g. with --check-config) and returns its exit code and output. */
export function runContainer(spec: ContainerSpec, timeoutMs = 30_000): ContainerRun {
  const p = prepare(spec)
  try {
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', p.script], {
      encoding: 'utf8',
      timeout: timeoutMs,
    })
    return {
      code: r.status,
      stdout: r.stdout ?? '',
      stderr: (r.stderr ?? '') + (r.error ? String(r.error) : ''),
    }
  } finally {
    p.cleanup()
  }
}

export interface StartedContainer {
  /** The host pid of the container's PID 1 (node), once it runs. */
  pid(): number | undefined
  output(): string
  /** Sends a signal to the container's PID 1, as the kubelet does on stop. */
  kill(signal: NodeJS.Signals): void
  /**
   * An HTTP GET from inside the container's network namespace, as a probe: the status code, or 0
   * when nothing answers.
   */
  httpGet(port: number, path: string): number
  exited: Promise<number | null>
}

/**
 * Starts the container in its own PID namespace too, so node runs as PID 1 as it does in the
 * image: PID 1 gets no default signal handling, so only a process that handles SIGTERM stops.
 */
export function startContainer(spec: ContainerSpec): StartedContainer {
  const p = prepare(spec)
  const ns = spec.ownNetwork ? ['-m', '-p', '-n', '-f'] : ['-m', '-p', '-f']
  const child = spawn('unshare', [...ns, '--propagation', 'private', 'sh', '-c', p.script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString()
  })
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      p.cleanup()
      resolve(code)
    }),
  )
  const pid = () => {
    try {
      const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)
      return kids[0] ? Number(kids[0]) : undefined
    } catch {
      return undefined
    }
  }
  return {
    pid,
    output: () => out,
    kill(signal) {
      const target = pid()
      if (target) process.kill(target, signal)
    },
    httpGet(port, path) {
      const target = pid()
      if (!target) return 0
      const r = spawnSync(
        'nsenter',
        [
          '-t',
          String(target),
          '-n',
          'curl',
          '-s',
          '-o',
          '/dev/null',
          '-m',
          '2',
          '-w',
          '%{http_code}',
          `http://127.0.0.1:${port}${path}`,
        ],
        { encoding: 'utf8' },
      )
      return Number(r.stdout) || 0
    },
    exited,
  }
}
