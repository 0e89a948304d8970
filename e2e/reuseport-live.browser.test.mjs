// Two parley-demo nodes behind one SO_REUSEPORT address over an embedded
// NATS, sharing one secret key base (-secret-file), as README's cluster
// section runs them. The kernel spreads the page loads and the live
// sockets over both nodes, so a page rendered by one node often joins on
// the other: 30 fresh page loads of /counter in Chromium must all go live
// within 2 s, with no WebSocket refused (no 403) and no page reloading
// itself (one document load each).

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { ROOT, waitFor } from './server.mjs'
import { launch } from './browser.mjs'

function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)) })
  })
}

function canConnect (port) {
  return new Promise(resolve => {
    const s = net.connect(port, '127.0.0.1')
    s.on('connect', () => { s.destroy(); resolve(true) })
    s.on('error', () => resolve(false))
  })
}

function proc (bin, args, name) {
  const p = spawn(bin, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  const out = { name, p, text: '', exited: null }
  out.done = new Promise(resolve => p.on('exit', (code, signal) => { out.exited = { code, signal }; resolve() }))
  p.stderr.on('data', d => { out.text += d })
  out.lines = createInterface({ input: p.stdout })
  out.lines.on('line', l => { out.text += l + '\n' })
  return out
}

async function stop (child, signal = 'SIGTERM') {
  if (!child || child.exited) return
  child.p.kill(signal)
  const t = setTimeout(() => child.p.kill('SIGKILL'), 15000)
  await child.done
  clearTimeout(t)
}

describe('two -reuseport nodes over NATS with a shared secret, LiveView in Chromium', () => {
  let dir, nats, browser, addrPort
  const nodes = []

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'parley-reuseport-'))
    const demo = path.join(dir, 'parley-demo')
    const natsBin = path.join(dir, 'nats-server')
    execFileSync('go', ['build', '-o', demo, './cmd/parley-demo'], { cwd: ROOT, stdio: 'inherit' })
    execFileSync('go', ['build', '-o', natsBin, 'github.com/nats-io/nats-server/v2'], { cwd: ROOT, stdio: 'inherit' })
    const natsPort = await freePort()
    await writeFile(path.join(dir, 'nats.conf'), 'max_payload: 8MB\n')
    nats = proc(natsBin, ['-a', '127.0.0.1', '-p', String(natsPort), '-c', path.join(dir, 'nats.conf')], 'nats')
    await waitFor(() => canConnect(natsPort), 15000, 'nats-server to accept connections', () => nats.text)
    const secretFile = path.join(dir, 'secret')
    await writeFile(secretFile, randomBytes(48).toString('base64') + '\n', { mode: 0o600 })
    addrPort = await freePort()
    for (const name of ['a', 'b']) {
      const n = proc(demo, ['-addr', `127.0.0.1:${addrPort}`, '-reuseport', '-nats', `nats://127.0.0.1:${natsPort}`,
        '-node', name, '-data', path.join(dir, name), '-secret-file', secretFile,
        '-node-modules', path.join(ROOT, 'node_modules')], name)
      let listening = false
      n.lines.on('line', l => { if (l.startsWith('PARLEY_LISTENING ')) listening = true })
      await waitFor(() => listening || n.exited, 30000, `node ${name} to listen`, () => n.text)
      assert.ok(listening, `node ${name} exited: ${n.text}`)
      nodes.push(n)
    }
    browser = await launch()
  })

  after(async () => {
    if (browser) await browser.close()
    for (const n of nodes) await stop(n)
    await stop(nats)
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('30 fresh page loads: every one live within 2 s, no 403, no reload', { timeout: 180000 }, async () => {
    const url = `http://127.0.0.1:${addrPort}/counter`
    const times = []
    for (let i = 0; i < 30; i++) {
      await browser.context.clearCookies()
      const page = await browser.context.newPage()
      const problems = []
      let documents = 0
      page.on('console', m => { if (m.type() === 'error') problems.push(m.text()) })
      page.on('request', r => { if (r.resourceType() === 'document') documents++ })
      page.on('response', r => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`) })
      page.on('websocket', ws => ws.on('socketerror', e => problems.push(`websocket error: ${e}`)))
      const t0 = Date.now()
      await page.goto(url)
      await page.waitForSelector('[data-phx-main].phx-connected', { timeout: 2000 - Math.min(1900, Date.now() - t0) })
      times.push(Date.now() - t0)
      await page.click('#inc')
      await waitFor(async () => (await page.textContent('#count')) === '1', 2000, `page ${i}: a click`)
      assert.equal(documents, 1, `page ${i} reloaded itself`)
      assert.deepEqual(problems, [], `page ${i}`)
      await page.close()
    }
    times.sort((a, b) => a - b)
    console.log(`page live after: median ${times[15]} ms, max ${times[29]} ms`)
    // Without the shared secret, a page whose socket lands on the other
    // node answers stale and reloads (this test then fails at once: "page
    // 2 reloaded itself" when -secret-file is left out). Neither node
    // refused a join.
    for (const n of nodes) assert.ok(!n.text.includes('join refused'), `node ${n.name} refused a join:\n${n.text}`)
  })
})
