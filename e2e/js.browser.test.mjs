// JS commands (live/js) in headless Chromium with the official
// phoenix_live_view client: a toggle runs on the client alone, a push
// reaches the server with its value, and a class is added in the same click.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'

describe('JS commands in headless Chromium', () => {
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

  it('toggles on the client and pushes to the server as written', { timeout: 60000 }, async () => {
    const { page, problems, sent } = await openPage(browser.context, `${server.base}/e2e/js`, 'js')
    await page.waitForSelector('.phx-connected', { timeout: 10000 })
    const events = () => sent.filter(f => f.payload.includes('"event"') && f.payload.includes('lv:'))
    assert.equal(await page.isVisible('#menu'), false)

    await page.click('#menu-btn')
    await waitFor(() => page.isVisible('#menu'), 5000, 'the menu is shown')
    assert.equal(await page.getAttribute('#menu-btn', 'aria-expanded'), 'true')
    await page.click('#menu-btn')
    await waitFor(async () => !(await page.isVisible('#menu')), 5000, 'the menu is hidden again')
    assert.equal(await page.getAttribute('#menu-btn', 'aria-expanded'), 'false')
    // toggling is client-side only: no event went to the server
    assert.deepEqual(events().map(f => f.payload), [])

    await page.click('#push-btn')
    await waitFor(async () => (await page.textContent('#pushes')) === '1', 5000, 'the push is counted')
    assert.equal(await page.textContent('#last'), 'js:7')
    assert.ok(await page.evaluate(() => document.querySelector('#pushes').classList.contains('was-pushed')))
    const ev = events().map(f => JSON.parse(f.payload)).filter(m => m[3] === 'event')
    assert.equal(ev.length, 1)
    assert.equal(ev[0][4].event, 'pushed')
    assert.deepEqual({ from: ev[0][4].value.from, n: ev[0][4].value.n }, { from: 'js', n: 7 })
    // the menu still toggles after the patch
    await page.click('#menu-btn')
    await waitFor(() => page.isVisible('#menu'), 5000, 'the menu is shown after the patch')
    assert.deepEqual(problems, [])
  })
})
