// Preloaded (--import) by bin/patina: the Promise.withResolvers polyfill, then tsx to run the
// TypeScript sources. tsx resolves from this checkout whatever the working directory is.
import './polyfill.mjs'
import 'tsx'
