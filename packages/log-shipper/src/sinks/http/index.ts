// The http output: http.ts sends, config.ts reads the keys.
export { httpOptions } from './config.ts'
export { HttpSink, type HttpSinkOptions } from './http.ts'
