// @podkit/demo: the local demo (runDemo) and its demo app (startApp), for the demo test.
export { type AppConfig, type AppStats, startApp } from './app.ts'
export { type DemoOptions, runDemo } from './demo.ts'
export { sumSamples } from './exposition.ts'
