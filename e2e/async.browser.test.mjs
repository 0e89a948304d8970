// Async assigns (live.Socket.AssignAsync) in headless Chromium with the
// official phoenix_live_view client: one shows its loading state until its
// function returns, then the value; a failing one shows its error.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'

describe('async assigns in headless Chromium', () => {
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

  it('shows loading, then the value; a failure shows its error', { timeout: 60000 }, async () => {
    const { page, problems } = await openPage(browser.context, `${server.base}/e2e/async`, 'async')
    await page.waitForSelector('.phx-connected', { timeout: 10000 })
    await waitFor(async () => (await page.textContent('#broken')) === 'Error: the service is down', 5000, 'the failed assign shows its error')
    // the slow one waits for the release click: still loading
    assert.equal(await page.textContent('#slow'), 'Loading…')
    await page.click('#release')
    await waitFor(async () => (await page.textContent('#slow')) === 'Customers also bought: tea', 5000, 'the value replaces the loading state')
    assert.deepEqual(problems, [])
  })
})
