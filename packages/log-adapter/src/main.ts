// The log-adapter process: config from env/flags/file, admin server on 2021, SIGTERM drains the
// pipeline (write what was read, save positions) before exiting.

import { type ConfigIssue, PodkitError, runService } from '@podkit/runtime'
import { compileFormat, createLogAdapter } from './adapter.ts'
import { crossChecks, ENV_PREFIX, schema } from './config.ts'

await runService({
  name: 'log-adapter',
  summary: 'Turns raw application logs (TIMESTAMP LEVEL MESSAGE by default) into JSON lines.',
  schema,
  envPrefix: ENV_PREFIX,
  validate(config) {
    const issues: ConfigIssue[] = crossChecks(config)
    if (issues.length > 0) return issues
    try {
      compileFormat(config)
    } catch (err) {
      if (!(err instanceof PodkitError)) throw err
      const [key, ...rest] = err.message.split(': ')
      issues.push({ key: key!, expected: 'a valid value', got: rest.join(': ') })
    }
    return issues
  },
  async start({ config, logger, registry }) {
    const adapter = createLogAdapter(config, { logger, registry })
    await adapter.start()
    return {
      stop: ({ signal }) => adapter.stop({ signal }),
    }
  },
})
