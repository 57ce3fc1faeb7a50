/** Hook-free, so that `process.ts` and benchmarks can use it too. */

/** The schema every integration test uses (Corrosion's `corro-tests` TEST_SCHEMA in spirit). */
export const TEST_SCHEMA = `
CREATE TABLE tests (id INTEGER NOT NULL PRIMARY KEY, text TEXT NOT NULL DEFAULT '');
CREATE TABLE routes (host TEXT NOT NULL PRIMARY KEY, app TEXT, backend TEXT, weight INTEGER NOT NULL DEFAULT 1);
`
