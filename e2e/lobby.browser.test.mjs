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
import { launch, openPage } from './browser.mjs'

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

// Seed 002's presence slide and what a user expects of a chat room: who is
// here, joins and leaves announced, the last messages for a late joiner,
// long words wrapped at phone width, and a message sent while the server
// is away longer than the push timeout shown as not sent, then delivered
// after the reconnect, once.
describe('lobby members, history and messages sent while the server is away', () => {
  let server
  let browser

  before(async () => {
    server = await startServer()
    browser = await launch()
  })

  after(async () => {
    if (browser) await browser.close()
    if (server) await server.stop().catch(() => {})
  })

  async function enter (room, name) {
    const p = await openPage(browser.context, `${server.base}/lobby?room=${room}`, name)
    await p.page.setViewportSize({ width: 390, height: 800 })
    await p.page.fill('#username', name)
    await p.page.click('#join')
    await waitFor(async () => (await p.page.textContent('#status')) === `in #${room} as ${name}`, 10000, `${name} joins`)
    return p
  }
  const members = p => p.page.$$eval('#members li', lis => lis.map(li => li.dataset.user))
  const notices = p => p.page.$$eval('#messages li.notice', lis => lis.map(li => li.textContent))
  const bodies = p => p.page.$$eval('#messages li:not(.notice) .body', els => els.map(e => e.textContent))
  const say = async (p, text) => {
    await p.page.fill('#message', text)
    await p.page.click('#send')
  }

  it('members, announcements, history, wrapping', { timeout: 120000 }, async () => {
    const room = unique('members')
    const ann = await enter(room, 'ann')
    const bob = await enter(room, 'bob')
    try {
      for (const p of [ann, bob]) await waitFor(async () => JSON.stringify(await members(p)) === '["ann","bob"]', 5000, 'both listed')
      await waitFor(async () => (await notices(ann)).includes('bob joined'), 5000, 'ann is told bob joined')
      assert.deepEqual(await notices(bob), [], 'bob is not told about who was there before')
      const long = 'x'.repeat(300)
      for (const text of ['one', 'two', long]) await say(ann, text)
      await waitFor(async () => (await bodies(bob)).length === 3, 5000, 'bob gets three')
      // The long word wraps: no horizontal overflow at 390 px.
      for (const p of [ann, bob]) {
        const over = await p.page.evaluate(() => {
          const li = [...document.querySelectorAll('#messages li')].at(-1)
          return { li: li.scrollWidth - li.clientWidth, page: document.documentElement.scrollWidth - window.innerWidth }
        })
        assert.deepEqual(over, { li: 0, page: 0 }, 'the long word wraps')
      }
      // A late joiner sees the room's last messages, once each.
      const cy = await enter(room, 'cy')
      await waitFor(async () => JSON.stringify(await bodies(cy)) === JSON.stringify(['one', 'two', long]), 5000, 'cy sees the history')
      await cy.page.close()
      for (const p of [ann, bob]) {
        await waitFor(async () => (await notices(p)).includes('cy left'), 5000, `${p.name} is told cy left`)
        assert.deepEqual(await members(p), ['ann', 'bob'])
      }
      assert.deepEqual([...ann.problems, ...bob.problems, ...cy.problems], [])
    } finally {
      await ann.page.close().catch(() => {})
      await bob.page.close().catch(() => {})
    }
  })

  it('a message sent while the server is away is shown not sent, then delivered once', { timeout: 120000 }, async () => {
    const room = unique('away')
    const ann = await enter(room, 'ann')
    const bob = await enter(room, 'bob')
    const port = server.port
    try {
      await server.stop('SIGKILL')
      await waitFor(() => ann.page.isVisible('#reconnecting'), 5000, 'ann sees the server is away')
      await say(ann, 'said while away')
      await ann.page.waitForSelector('#messages li.unsent .retry', { state: 'visible', timeout: 15000 })
      assert.match(await ann.page.textContent('#messages li.unsent .state'), /not sent/)
      server = await startServer({ port })
      // After the rejoin, the page sends it again by itself.
      for (const p of [ann, bob]) {
        await waitFor(async () => (await bodies(p)).includes('said while away'), 20000, `${p.name} gets it after the reconnect`)
      }
      await waitFor(async () => !(await ann.page.$('#messages li.unsent, #messages li.pending')), 5000, 'no longer marked unsent')
      // Once each: a round trip after it, then count.
      await say(bob, 'after')
      for (const p of [ann, bob]) {
        await waitFor(async () => (await bodies(p)).includes('after'), 5000, 'the next message')
        assert.equal((await bodies(p)).filter(b => b === 'said while away').length, 1, `${p.name}: once`)
      }
      const errs = [...ann.problems, ...bob.problems].filter(e => !/WebSocket|ERR_CONNECTION_REFUSED|request failed/.test(e))
      assert.deepEqual(errs, [])
    } finally {
      await ann.page.close().catch(() => {})
      await bob.page.close().catch(() => {})
    }
  })
})
