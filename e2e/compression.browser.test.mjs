// permessage-deflate in headless Chromium: the demo negotiates it with the
// browser on the LiveView socket (the handshake response, seen through the
// DevTools protocol, names the extension with no context takeover either
// way), and a chat broadcast, compressed once on the server, reaches both
// viewers intact.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'

describe('permessage-deflate in headless Chromium', () => {
  let server
  let browser

  before(async () => {
    server = await startServer()
    browser = await launch()
  })

  after(async () => {
    if (browser) await browser.close()
    if (server) await server.stop()
  })

  it('the browser negotiates it and compressed broadcasts arrive whole', { timeout: 60000 }, async (t) => {
    const handshakes = []
    const viewers = {}
    // The chat's signed login (one browser: both pages are ann's tabs).
    const login = await openPage(browser.context, `${server.base}/chat/login?next=/chat/rooms/1`, 'login')
    await login.page.fill('#login-form input[name=user]', 'ann')
    await Promise.all([login.page.waitForURL(/\/chat\/rooms\/1$/), login.page.click('#login-form button')])
    // Closed once live: closing the page that a login redirect just
    // loaded hung Chromium's page.close() in about 1 of 3 tries.
    await login.page.waitForSelector('.phx-connected', { timeout: 10000 })
    await login.page.close()
    for (const user of ['ann', 'bob']) {
      const v = await openPage(browser.context, 'about:blank', user)
      const cdp = await browser.context.newCDPSession(v.page)
      await cdp.send('Network.enable')
      cdp.on('Network.webSocketWillSendHandshakeRequest', e => handshakes.push({ user, kind: 'request', url: e.request.url || '', headers: e.request.headers }))
      cdp.on('Network.webSocketHandshakeResponseReceived', e => handshakes.push({ user, kind: 'response', headers: e.response.headers }))
      await v.page.goto(`${server.base}/chat/rooms/1`)
      await v.page.waitForSelector('.phx-connected', { timeout: 10000 })
      viewers[user] = v
    }
    const header = (h, name) => Object.entries(h).find(([k]) => k.toLowerCase() === name)?.[1] || ''
    const requests = handshakes.filter(h => h.kind === 'request')
    const responses = handshakes.filter(h => h.kind === 'response')
    assert.ok(requests.length >= 2 && responses.length >= 2, `handshakes seen: ${JSON.stringify(handshakes)}`)
    for (const r of requests) assert.match(header(r.headers, 'sec-websocket-extensions'), /permessage-deflate/, 'Chromium offers it')
    for (const r of responses) {
      assert.equal(header(r.headers, 'sec-websocket-extensions'),
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover')
    }
    t.diagnostic(`offer: ${header(requests[0].headers, 'sec-websocket-extensions')}`)

    const body = 'compressed hello from ann, long enough to be worth compressing: ' + 'la '.repeat(40)
    await viewers.ann.page.fill('form.send input[name=body]', body)
    await viewers.ann.page.press('form.send input[name=body]', 'Enter')
    for (const user of ['ann', 'bob']) {
      await waitFor(async () => (await viewers[user].page.textContent('#messages')).includes(body.trim()), 5000, `${user} sees the message`)
    }
    for (const user of ['ann', 'bob']) assert.deepEqual(viewers[user].problems, [])
  })
})
