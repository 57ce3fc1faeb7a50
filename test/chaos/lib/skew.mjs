// Clock-skew fault for chaos workers, loaded with `node --import` (the agent itself is not
// changed). Date.now() (the hybrid logical clock's source) is offset by the number of milliseconds written in the
// file named by PATINA_CHAOS_SKEW_FILE; the file is re-read on SIGUSR2, so the nemesis can jump
// a live worker's wall clock forwards or backwards. Monotonic timers (performance.now,
// setTimeout) are untouched, as with a real wall-clock step.
import { readFileSync } from 'node:fs'

const file = process.env.PATINA_CHAOS_SKEW_FILE
if (file) {
  let offset = 0
  const load = () => {
    try {
      offset = Number(readFileSync(file, 'utf8').trim()) || 0
    } catch {
      offset = 0
    }
  }
  load()
  process.on('SIGUSR2', load)
  const realNow = Date.now.bind(Date)
  Date.now = () => realNow() + offset
}
