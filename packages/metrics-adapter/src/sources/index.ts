// The built-in sources, by the name config and /probe?module= use.

import type { Source } from '../source.ts'
import { apacheSource } from './apache.ts'
import { nginxSource } from './nginx.ts'
import { phpFpmSource } from './php-fpm.ts'

export { apacheSource, nginxSource, phpFpmSource }

export const builtinSources: Readonly<Record<string, Source>> = {
  nginx: nginxSource,
  apache: apacheSource,
  'php-fpm': phpFpmSource,
}
