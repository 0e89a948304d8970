// The better commerce page in headless Chromium with the real
// phoenix_live_view client: a reservation disables the other user's button
// and updates stock within a second, the holder's countdown ticks in small
// diffs, and expiry gives the unit back to both. (The e2e server runs with
// a 4 s reservation time.)

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'

describe('commerce in headless Chromium', () => {
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

  it('reservation, live stock, countdown and expiry reach both users', { timeout: 90000 }, async (t) => {
    const url = id => `${server.base}/commerce/better_products/rare-raincoat?user_id=${id}&user_name=U${id}`
    const a = await openPage(browser.context, url(110), 'parker')
    const b = await openPage(browser.context, url(120), 'andrew')
    for (const p of [a, b]) {
      await p.page.waitForSelector('.phx-connected', { timeout: 10000 })
      assert.equal(await p.page.textContent('#stock'), '1')
      assert.equal(await p.page.isDisabled('#add'), false)
    }
    // the "customers also bought" block loads asynchronously for both
    for (const p of [a, b]) {
      await waitFor(async () => (await p.page.textContent('#also-bought')).includes('Scarce scarf'), 5000, 'the also-bought block loads')
    }
    const joinAt = Date.now()
    await a.page.click('#add')
    const clicked = Date.now()
    await waitFor(async () => await b.page.isDisabled('#add'), 1000, "the other user's button is disabled within 1 s")
    await waitFor(async () => (await b.page.textContent('#stock')) === '0', 1000, "the other user's stock is 0 within 1 s")
    assert.match(await b.page.textContent('#reason'), /someone else's cart/)
    assert.ok(Date.now() - clicked < 1500)

    const first = await a.page.textContent('#remaining')
    await waitFor(async () => (await a.page.textContent('#remaining')) !== first, 3000, 'the countdown ticks')

    for (const p of [a, b]) {
      await waitFor(async () => (await p.page.textContent('#stock')) === '1' && !(await p.page.isDisabled('#add')), 10000, 'expiry returns the unit')
    }
    assert.match(await a.page.textContent('#message'), /expired/)

    const lvFrames = a.frames.filter(f => f.url.includes('/live/websocket') && f.at >= joinAt)
    const ticks = lvFrames.filter(f => f.payload.includes('"diff"') && /"\d+:\d\d"/.test(f.payload) && !f.payload.includes('phx_reply'))
    assert.ok(ticks.length >= 2, `countdown diffs seen: ${ticks.length}`)
    t.diagnostic(`countdown tick frame: ${ticks[0].payload.length} bytes: ${ticks[0].payload}`)
    for (const f of ticks) assert.ok(f.payload.length <= 100, `a countdown tick of ${f.payload.length} bytes: ${f.payload}`)
    for (const f of lvFrames) {
      assert.ok(!f.payload.includes('Waxed cotton'), `a frame after the join resent unchanged page parts: ${f.payload.slice(0, 200)}`)
    }
    assert.deepEqual([...a.problems, ...b.problems], [])
  })

  it('the shipping disclosure opens on the client and loads its text (JS.toggle + JS.push)', { timeout: 60000 }, async () => {
    const url = id => `${server.base}/commerce/better_products/plenty-pens?user_id=${id}&user_name=U${id}`
    const a = await openPage(browser.context, url('js1'), 'a')
    const b = await openPage(browser.context, url('js2'), 'b')
    for (const p of [a, b]) await p.page.waitForSelector('.phx-connected', { timeout: 10000 })
    assert.equal(await a.page.isVisible('#shipping'), false)
    await a.page.click('#shipping-toggle')
    await waitFor(() => a.page.isVisible('#shipping'), 5000, 'the disclosure opens')
    assert.equal(await a.page.getAttribute('#shipping-toggle', 'aria-expanded'), 'true')
    await waitFor(async () => (await a.page.textContent('#shipping')).startsWith('Ships within 2 working days'), 5000, 'the pushed event loads the text')
    assert.ok(await a.page.isVisible('#shipping'), 'still open after the patch')
    const pushes = a.sent.map(f => JSON.parse(f.payload)).filter(m => m[3] === 'event' && m[4].event === 'shipping')
    assert.equal(pushes.length, 1)
    await a.page.click('#shipping-toggle')
    await waitFor(async () => !(await a.page.isVisible('#shipping')), 5000, 'the disclosure closes')
    // the other shopper's page is untouched
    assert.equal(await b.page.isVisible('#shipping'), false)
    assert.equal(await b.page.textContent('#shipping'), 'Loading…')
    assert.deepEqual([...a.problems, ...b.problems], [])
  })
})
