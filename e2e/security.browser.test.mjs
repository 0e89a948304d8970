// Origin checking in headless Chromium: a page served from another origin
// cannot open a WebSocket to Parley (/socket and /live), while the same
// code on the Parley origin can. The cross-origin page is even handed a
// valid CSRF token (and the browser sends the cookie: same site, other
// port), so only the origin check stands in its way. A LiveView page whose
// CSRF token belongs to another browser (another CSRF cookie) is never
// mounted: its join answers "stale", and the client reloads the page, which
// then goes live with its own token.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { startServer } from './server.mjs'
import { launch, openPage } from './browser.mjs'

// tryWebSocket runs in the page: resolves 'open' or 'failed <code>'.
function tryWebSocket (url) {
  return new Promise(resolve => {
    const ws = new WebSocket(url)
    const timer = setTimeout(() => resolve('timeout'), 8000)
    ws.onopen = () => { clearTimeout(timer); ws.close(); resolve('open') }
    ws.onclose = e => { clearTimeout(timer); resolve(`failed ${e.code}`) }
  })
}

describe('origin checking in headless Chromium', () => {
  let server
  let browser
  let evil
  let evilBase

  before(async () => {
    server = await startServer()
    browser = await launch()
    evil = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
      res.end('<!doctype html><title>elsewhere</title><p>another origin</p>')
    })
    await new Promise(resolve => evil.listen(0, '127.0.0.1', resolve))
    evilBase = `http://127.0.0.1:${evil.address().port}`
  })

  after(async () => {
    if (browser) await browser.close()
    if (evil) await new Promise(resolve => evil.close(resolve))
    if (server) await server.stop()
  })

  it('refuses sockets from another origin and accepts them from its own', { timeout: 60000 }, async () => {
    const wsBase = server.wsBase
    // A Parley page gives a valid CSRF token (and sets its cookie).
    const own = await openPage(browser.context, `${server.base}/counter`, 'parley')
    await own.page.waitForSelector('.phx-connected', { timeout: 10000 })
    const csrf = await own.page.getAttribute('meta[name="csrf-token"]', 'content')
    assert.ok(csrf, 'the counter page has a CSRF token')
    const channelURL = `${wsBase}/socket/websocket?vsn=2.0.0`
    const liveURL = `${wsBase}/live/websocket?vsn=2.0.0&_csrf_token=${encodeURIComponent(csrf)}`

    assert.equal(await own.page.evaluate(tryWebSocket, channelURL), 'open', '/socket from the Parley origin')
    assert.equal(await own.page.evaluate(tryWebSocket, liveURL), 'open', '/live from the Parley origin')

    const other = await browser.context.newPage()
    await other.goto(evilBase + '/')
    assert.equal(await other.evaluate(() => location.origin), evilBase)
    assert.equal(await other.evaluate(tryWebSocket, channelURL), 'failed 1006', '/socket from another origin')
    assert.equal(await other.evaluate(tryWebSocket, liveURL), 'failed 1006', '/live from another origin')
    const refusals = server.output().split('\n').filter(l => l.includes('websocket: origin refused') && l.includes(evilBase))
    assert.equal(refusals.length, 2, `origin refusals logged:\n${server.output()}`)
    assert.deepEqual(own.problems, [])
  })

  it('a CSRF token of another browser is refused: the join answers stale, the page reloads and goes live', { timeout: 60000 }, async () => {
    // Another browser's token: Node fetches the page without our cookie.
    const html = await (await fetch(`${server.base}/counter`)).text()
    const stolen = html.match(/<meta name="csrf-token" content="([^"]+)"/)[1]
    const page = await browser.context.newPage()
    const frames = []
    const problems = []
    page.on('console', m => problems.push(`console.${m.type()}: ${m.text()}`))
    page.on('pageerror', e => problems.push(`page error: ${e}`))
    page.on('websocket', ws => ws.on('framereceived', f => frames.push(f.payload)))
    // On the first load only, the page's token is swapped for the stolen
    // one as the parser inserts the meta tag, before live.js reads it.
    await page.addInitScript(token => {
      if (sessionStorage.getItem('swapped')) return
      sessionStorage.setItem('swapped', '1')
      new MutationObserver((_, obs) => {
        const m = document.querySelector('meta[name="csrf-token"]')
        if (m) { m.setAttribute('content', token); obs.disconnect() }
      }).observe(document, { childList: true, subtree: true })
    }, stolen)
    let served = 0
    page.on('response', r => { if (r.url() === `${server.base}/counter`) served++ })
    try {
      await page.goto(`${server.base}/counter`)
      await page.waitForSelector('.phx-connected', { timeout: 10000 }).catch(e => { throw new Error(`${e.message}\nserved ${served}\n${problems.join('\n')}\nframes:\n${frames.join('\n')}\n${server.output().split('\n').filter(l => l.includes('CSRF') || l.includes('live')).slice(-10).join('\n')}`) })
      const stale = frames.filter(f => f.includes('phx_reply') && f.includes('"reason":"stale"'))
      assert.ok(stale.length >= 1, `no stale join reply among:\n${frames.join('\n')}`)
      // (The cause, "invalid CSRF token", is logged at Info: live.TestLiveBadTokens.)
      assert.equal(served, 2, 'one refused load, one live')
      // Live with its own token: a click is answered.
      const before = await page.textContent('h1')
      await page.click('#inc')
      await page.waitForFunction(b => document.querySelector('h1').textContent !== b, before, { timeout: 5000 })
    } finally {
      await page.close()
    }
  })
})
