// A worker thread (threads.ts): the same listeners on the same ports (SO_REUSEPORT) with its own
// upstream pools, counts and access-log batches; drain, stop and stats come from the main thread.

import { parentPort, type workerData as WorkerDataT } from 'node:worker_threads'
import { createLogger, createServiceRegistry } from '@podkit/runtime'
import { normalize } from './config.ts'
import { bucketCount, createHttpAmbassador } from './index.ts'
import { SharedState } from './shared.ts'
import type { FromWorker, ToWorker, WorkerData } from './threads.ts'

export function isWorkerData(d: typeof WorkerDataT): d is WorkerData {
  return typeof d === 'object' && d !== null && (d as WorkerData).podkitHttpAmbassadorWorker === true
}

export async function runWorker(data: WorkerData): Promise<void> {
  const port = parentPort!
  const post = (m: FromWorker) => port.postMessage(m)
  const { config, ports } = data
  const { spec } = normalize(config)
  if (!spec) {
    post({ type: 'failed', message: 'the configuration did not validate in the worker thread' })
    return
  }
  spec.listeners.forEach((l, i) => {
    l.port = ports[i] ?? l.port
  })
  // The same JSON lines as the main thread's, to the same stdout (fd 1, written synchronously).
  const logger = createLogger({
    name: 'http-ambassador',
    level: config.logLevel,
    version: process.env.PODKIT_VERSION ?? 'dev',
  })
  const { registry } = createServiceRegistry({ service: 'http-ambassador', processMetrics: false })
  const state = new SharedState(data.shared, data.threads, spec.clusters.length, bucketCount(spec))
  const amb = createHttpAmbassador(spec, {
    logger,
    registry,
    reusePort: true,
    announce: false,
    shared: { state, thread: data.index, init: false },
  })
  try {
    await amb.start()
  } catch (err) {
    post({ type: 'failed', message: (err as Error).message })
    return
  }
  let stopping = false
  port.on('message', (m: ToWorker) => {
    if (m.type === 'stats') post({ type: 'stats', id: m.id, snapshot: amb.metrics.snapshot() })
    else if (m.type === 'drain') amb.drainListeners(m.graceful)
    else if (m.type === 'stop' && !stopping) {
      stopping = true
      void amb.stop({ deadline: m.deadline }).finally(() => {
        // Nothing of this thread may keep it alive once its listeners and pools are closed.
        port.close()
        process.exit(0)
      })
    }
  })
  post({ type: 'ready' })
}
