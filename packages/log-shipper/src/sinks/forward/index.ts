// The forward output (Fluentd Forward Protocol v1): see forward.ts for the protocol, config.ts for the keys.
export { forwardOptions } from './config.ts'
export { type ForwardOptions, ForwardSink } from './forward.ts'
