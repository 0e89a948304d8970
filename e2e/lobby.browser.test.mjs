// The lobby demo page in headless Chromium (Debian's /usr/bin/chromium driven
// by playwright-core; no browser is ever downloaded): two users chat.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { chromium } from 'playwright-core'
import { startServer, waitFor } from './server.mjs'
import { unique } from './clients.mjs'

const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium'
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync'
]

describe('lobby in headless Chromium', () => {
  let server
  let context
  let userDataDir

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/deps.sh`)
    server = await startServer()
    userDataDir = await mkdtemp(path.join(os.tmpdir(), 'parley-chromium-'))
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      timeout: 60000
    })
  })

  after(async () => {
    if (context) await context.close().catch(() => {})
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true })
    if (server) await server.stop()
  })

  // open loads the lobby page and records console errors, page errors and
  // the phoenix frames the page receives over its WebSocket.
  async function open (name) {
    const page = await context.newPage()
    const problems = []
    const frames = []
    page.on('console', m => { if (m.type() === 'error') problems.push(`${name} console.error: ${m.text()} (at ${m.location().url || '?'})`) })
    page.on('pageerror', e => problems.push(`${name} page error: ${e.stack || e}`))
    const httpErrors = []
    page.on('response', r => { if (r.status() >= 400) httpErrors.push(`${r.status()} ${r.request().method()} ${r.url()}`) })
    page.on('requestfailed', r => problems.push(`${name} request failed: ${r.url()} ${r.failure() && r.failure().errorText}`))
    page.on('websocket', sock => {
      sock.on('framereceived', f => frames.push(typeof f.payload === 'string' ? f.payload : `<binary ${f.payload.length}>`))
    })
    const res = await page.goto(`${server.base}/lobby?room=main`, { waitUntil: 'load' })
    assert.equal(res.status(), 200, `${name}: GET /lobby status`)
    return { page, problems, frames, name, httpErrors }
  }

  function isJoinOk (text) {
    try {
      const f = JSON.parse(text)
      return Array.isArray(f) && f[2] === 'lobby:main' && f[3] === 'phx_reply' && f[0] !== null && f[0] === f[1] && f[4] && f[4].status === 'ok'
    } catch {
      return false
    }
  }

  async function join (p, username) {
    await p.page.fill('#username', username)
    await p.page.click('#join')
    // the lobby is joined once its join reply arrived over the page's socket
    await waitFor(() => p.frames.some(isJoinOk), 10000, `${p.name}: an ok join reply for lobby:main`,
      () => `frames: ${JSON.stringify(p.frames)}\nproblems: ${JSON.stringify(p.problems)}`)
  }

  // hasMessage is evaluated in the page: some entry of #messages shows both text and from.
  function hasMessage ([text, from]) {
    const box = document.querySelector('#messages')
    if (!box) return false
    const items = box.children.length ? [...box.querySelectorAll('*')] : [box]
    return items.some(el => el.textContent.includes(text) && el.textContent.includes(from))
  }

  it('a message from alice reaches bob', { timeout: 90000 }, async () => {
    const a = await open('A')
    const b = await open('B')
    try {
      await join(a, 'alice')
      await join(b, 'bob')
      const text = unique('greeting')
      await a.page.fill('#message', text)
      await a.page.click('#send')
      for (const p of [b, a]) {
        try {
          await p.page.waitForFunction(hasMessage, [text, 'alice'], { timeout: 10000 })
        } catch (err) {
          const html = await p.page.locator('#messages').innerHTML().catch(e => `<#messages unavailable: ${e.message}>`)
          throw new Error(`${p.name}: message ${JSON.stringify(text)} from alice not shown in #messages within 10 s.\n#messages: ${html}\nframes: ${JSON.stringify(p.frames)}\nproblems: ${JSON.stringify(p.problems)}`)
        }
      }
      assert.deepEqual([...a.problems, ...b.problems], [], `console errors (HTTP errors seen: ${JSON.stringify([...a.httpErrors, ...b.httpErrors])})`)
    } finally {
      await a.page.close().catch(() => {})
      await b.page.close().catch(() => {})
    }
  })
})
