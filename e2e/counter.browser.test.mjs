// The counter LiveView in headless Chromium with the real phoenix_live_view
// client: clicks and server ticks update the page, and after the join only
// small diffs travel.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'
import { readFile } from 'node:fs/promises'

describe('counter LiveView in headless Chromium', () => {
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

  it('clicks and ticks update the page through diffs only', { timeout: 60000 }, async () => {
    const { page, problems, frames } = await openPage(browser.context, `${server.base}/counter`, 'counter')
    await page.waitForSelector('.phx-connected', { timeout: 10000 })
    // The page runs the phoenix_live_view client pinned in package.json.
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url)))
    assert.match(pkg.devDependencies.phoenix_live_view, /^1\.2\./)
    assert.equal(await page.evaluate(() => window.liveSocket.version()), pkg.devDependencies.phoenix_live_view)
    assert.equal(await page.textContent('#count'), '0')
    await page.click('#inc')
    await page.click('#inc')
    await page.click('#dec')
    await waitFor(async () => (await page.textContent('#count')) === '1', 5000, 'count is 1 after + + −')
    await waitFor(async () => Number(await page.textContent('#ticks')) >= 2, 10000, 'two server ticks arrive')
    assert.equal(await page.title(), 'Counter')

    const lv = frames.filter(f => f.url.includes('/live/websocket'))
    const join = lv.find(f => f.payload.includes('"rendered"'))
    assert.ok(join, 'a join reply with the rendered tree')
    const after = lv.slice(lv.indexOf(join) + 1).filter(f => f.payload.includes('"diff"'))
    assert.ok(after.length >= 4, `diffs after the join: ${after.length}`)
    for (const f of after) {
      assert.ok(!f.payload.includes('"s"'), `a diff resent statics: ${f.payload}`)
      assert.ok(f.payload.length <= 100, `a diff of ${f.payload.length} bytes: ${f.payload}`)
    }
    assert.deepEqual(problems, [])
  })
})
