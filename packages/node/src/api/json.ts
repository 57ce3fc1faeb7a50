// Moved to `wire/json.ts` (the NDJSON event encoding is shared by the API and the
// subscription hub); this re-export keeps route files importing `./json.js` working.
export * from '../wire/json.js'
