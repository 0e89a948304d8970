// Helpers to build and run the Parley end-to-end test server (bin/e2eserver)
// from node --test files, plus a polling waitFor used instead of sleeps.
//
// node --test runs every test file in its own process, so the build is
// guarded by a lock directory and skipped when the binary is newer than every
// Go source file of the module. Set PARLEY_E2E_SERVER to a prebuilt binary to
// skip building altogether.

import { spawn } from 'node:child_process'
import { mkdir, readdir, rm, stat, writeFile, readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const DEFAULT_BIN = path.join(ROOT, 'bin', 'e2eserver')
const LOCK_DIR = path.join(ROOT, 'bin', '.e2eserver.lock')
const BUILD_TIMEOUT_MS = 10 * 60 * 1000

// waitFor polls fn (which may be async) until it returns a truthy value and
// resolves with that value. It rejects after timeoutMs with a message naming
// what was awaited; describe, if given, adds diagnostics (e.g. frames seen).
export async function waitFor (fn, timeoutMs = 5000, what = 'condition', describe) {
  const deadline = Date.now() + timeoutMs
  let lastErr
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
    } catch (err) {
      lastErr = err
    }
    if (Date.now() >= deadline) {
      let msg = `timed out after ${timeoutMs} ms waiting for ${what}`
      if (lastErr) msg += `; last error: ${lastErr.stack || lastErr}`
      if (describe) msg += `\n${describe()}`
      throw new Error(msg)
    }
    await new Promise(resolve => setTimeout(resolve, 15))
  }
}

// never resolves before ms; use only to bound a negative assertion, never to
// synchronise.
function delay (ms) {
  return new Promise(resolve => setTimeout(resolve, ms))
}

function isAlive (pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return err.code === 'EPERM'
  }
}

async function acquireLock () {
  const deadline = Date.now() + BUILD_TIMEOUT_MS
  await mkdir(path.dirname(LOCK_DIR), { recursive: true })
  for (;;) {
    try {
      await mkdir(LOCK_DIR)
      await writeFile(path.join(LOCK_DIR, 'pid'), String(process.pid))
      return
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
    }
    // a lock left by a process that died is taken over
    let owner = NaN
    try {
      owner = Number(await readFile(path.join(LOCK_DIR, 'pid'), 'utf8'))
    } catch {}
    if (Number.isInteger(owner) && owner > 0 && !isAlive(owner)) {
      await rm(LOCK_DIR, { recursive: true, force: true })
      continue
    }
    if (Date.now() > deadline) throw new Error(`could not take the build lock ${LOCK_DIR}`)
    await delay(100)
  }
}

async function releaseLock () {
  await rm(LOCK_DIR, { recursive: true, force: true })
}

// newestSource returns the newest mtime of the module's Go inputs (and of
// their directories, so deleted files count), skipping nested modules.
async function newestSource (dir = ROOT, top = true) {
  let newest = (await stat(dir)).mtimeMs
  const entries = await readdir(dir, { withFileTypes: true })
  if (!top && entries.some(e => e.isFile() && e.name === 'go.mod')) return 0
  for (const e of entries) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) {
      if (['node_modules', '.git', 'bin', 'data', '.cache', 'testdata'].includes(e.name) || e.name.startsWith('.')) continue
      newest = Math.max(newest, await newestSource(p, false))
    } else if (e.isFile() && (e.name.endsWith('.go') || e.name === 'go.mod' || e.name === 'go.sum')) {
      newest = Math.max(newest, (await stat(p)).mtimeMs)
    }
  }
  return newest
}

function run (cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...opts })
    let out = ''
    child.stdout.on('data', d => { out += d })
    child.stderr.on('data', d => { out += d })
    child.on('error', reject)
    child.on('close', code => resolve({ code, out }))
  })
}

let built = null

// buildServer builds bin/e2eserver unless it is up to date and returns its path.
export function buildServer () {
  if (process.env.PARLEY_E2E_SERVER) return Promise.resolve(path.resolve(process.env.PARLEY_E2E_SERVER))
  built ??= (async () => {
    await acquireLock()
    try {
      let fresh = false
      try {
        fresh = (await stat(DEFAULT_BIN)).mtimeMs > await newestSource()
      } catch {}
      if (!fresh) {
        const { code, out } = await run('go', ['build', '-o', DEFAULT_BIN, './internal/e2eserver'])
        if (code !== 0) throw new Error(`go build ./internal/e2eserver failed (exit ${code}):\n${out}`)
      }
      return DEFAULT_BIN
    } finally {
      await releaseLock()
    }
  })()
  return built
}

const running = new Set()

// kill leftovers if a test file dies without cleaning up
process.on('exit', () => {
  for (const s of running) {
    try { s.proc.kill('SIGKILL') } catch {}
  }
})

// startServer starts the test server on 127.0.0.1 (a free port unless port is
// given) and resolves once it printed PARLEY_LISTENING. The result has
// base (http://host:port), wsBase (ws://host:port), port, output() and stop().
// args are more e2eserver flags (-data, -secret-file).
export async function startServer ({ port = 0, startTimeoutMs = 20000, args = [] } = {}) {
  const bin = await buildServer()
  const proc = spawn(bin, ['-addr', `127.0.0.1:${port}`, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  let exited = null
  const exitPromise = new Promise(resolve => {
    proc.on('exit', (code, signal) => {
      exited = { code, signal }
      resolve(exited)
    })
  })
  proc.on('error', err => { output += `spawn error: ${err}\n` })
  proc.stderr.on('data', d => { output += d })
  const server = {
    proc,
    port: 0,
    base: '',
    wsBase: '',
    output: () => output,
    exited: () => exited,
    // stop sends SIGTERM (or signal) and resolves with {code, signal} once
    // the process exited; it SIGKILLs and rejects after timeoutMs.
    async stop (signal = 'SIGTERM', timeoutMs = 20000) {
      if (!exited) proc.kill(signal)
      let t
      const timer = new Promise(resolve => { t = setTimeout(resolve, timeoutMs, 'timeout') })
      const res = await Promise.race([exitPromise, timer]).finally(() => clearTimeout(t))
      running.delete(server)
      if (res === 'timeout') {
        proc.kill('SIGKILL')
        await exitPromise
        throw new Error(`server did not exit within ${timeoutMs} ms of ${signal}; output:\n${output}`)
      }
      return res
    }
  }
  running.add(server)
  const lines = createInterface({ input: proc.stdout })
  const listening = new Promise((resolve, reject) => {
    lines.on('line', line => {
      output += line + '\n'
      const m = /^PARLEY_LISTENING (http:\/\/[^\s]+?):(\d+)\s*$/.exec(line)
      if (m) resolve({ base: `${m[1]}:${m[2]}`, port: Number(m[2]) })
    })
    exitPromise.then(({ code, signal }) => reject(new Error(`e2eserver exited (code ${code}, signal ${signal}) before listening; output:\n${output}`)))
  })
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`e2eserver did not print PARLEY_LISTENING within ${startTimeoutMs} ms; output:\n${output}`)), startTimeoutMs)
  })
  try {
    const { base, port: p } = await Promise.race([listening, timeout]).finally(() => clearTimeout(timer))
    server.base = base
    server.port = p
    server.wsBase = base.replace(/^http/, 'ws')
    return server
  } catch (err) {
    proc.kill('SIGKILL')
    running.delete(server)
    throw err
  }
}
