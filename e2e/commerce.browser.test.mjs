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

  // The side-by-side page (two shoppers and the stock room's widget, as
  // the talk frames them); the same two numbers on every page; a restock
  // from outside the pages (HTTP, as `parley-demo restock` sends it)
  // updates every page; bad restocks change nothing; one message at a
  // time, never contradicting the page.
  it('side by side: same numbers everywhere, HTTP restock, one message at a time', { timeout: 90000 }, async () => {
    // Reservations long enough for the whole story (the first test's
    // server holds for 4 s).
    const server = await startServer({ args: ['-hold-ttl', '60s'] })
    after(() => server.stop())
    const p = await openPage(browser.context, `${server.base}/commerce`, 'side by side')
    const third = await openPage(browser.context, `${server.base}/commerce/better_products/rare-raincoat?user_id=130&user_name=Cleo`, 'cleo')
    try {
      const frame = title => p.page.frames().find(f => f.url().includes(title))
      for (const src of ['user_name=Parker', 'user_name=Andrew', '/commerce/inventory/rare-raincoat']) {
        await waitFor(async () => { const f = frame(src); return f && await f.$('.phx-connected') }, 10000, `${src} connected`)
      }
      await third.page.waitForSelector('.phx-connected', { timeout: 10000 })
      const [parker, andrew, inv] = ['user_name=Parker', 'user_name=Andrew', '/commerce/inventory/'].map(frame)
      assert.equal(await parker.textContent('#who'), 'Parker')
      assert.equal(await andrew.textContent('#who'), 'Andrew')
      const numbers = async f => f === inv
        ? `${await f.textContent('#inv-stock')} left, ${await f.textContent('#inv-held')} in carts`
        : `${await f.textContent('#stock')} left, ${await f.textContent('#held-count')} in carts`
      const everywhere = async (want, what) => {
        for (const f of [parker, andrew, inv, third.page]) await waitFor(async () => (await numbers(f)) === want, 3000, `${what}: ${want} (sees ${await numbers(f)})`)
      }
      await everywhere('1 left, 0 in carts', 'start')

      // Bad restocks: a clear error, nothing changed.
      const post = (body, type = 'application/json') => fetch(`${server.base}/commerce/restock`, { method: 'POST', headers: { 'Content-Type': type }, body })
      for (const [body, status, re] of [
        [JSON.stringify({ sku: 'rare-raincoat', n: -5 }), 400, /must be 1 to 10000/],
        [JSON.stringify({ sku: 'rare-raincoat', n: 1e9 }), 400, /must be 1 to 10000/],
        [JSON.stringify({ sku: 'nope', n: 1 }), 404, /no product/],
        ['n=1&sku=rare-raincoat', 415, /JSON/]
      ]) {
        const res = await post(body, status === 415 ? 'application/x-www-form-urlencoded' : 'application/json')
        assert.equal(res.status, status, body)
        assert.match((await res.json()).error, re)
      }
      // A good one reaches every page.
      const res = await post(JSON.stringify({ sku: 'rare-raincoat', n: 1 }))
      assert.equal(res.status, 200)
      assert.deepEqual(await res.json(), { sku: 'rare-raincoat', stock: 2, held: 0, available: 2 })
      await everywhere('2 left, 0 in carts', 'after the HTTP restock')

      // Parker and Andrew each hold one: Cleo is told both are in carts.
      await parker.click('#add')
      await andrew.click('#add')
      await everywhere('0 left, 2 in carts', 'two held')
      assert.match(await third.page.textContent('#reason'), /All 2 left are in other shoppers' carts/)
      // No static time under the live countdown.
      assert.equal((await parker.textContent('.shop')).match(/\d+:\d\d/g).length, 1, 'one time on the page: the live countdown')
      // Cleo forges an add: one message says so, not two.
      await third.page.evaluate(() => window.liveSocket.js().push(document.querySelector('[data-phx-main]'), 'add', {}))
      await waitFor(async () => /just put the last one/.test(await third.page.textContent('#message').catch(() => '')), 3000, 'the refusal')
      assert.equal(await third.page.$('#reason'), null, 'the loss is told once')
      await everywhere('0 left, 2 in carts', 'the forged add changed nothing')
      // Parker buys: his page says so; nobody else's page contradicts it.
      await parker.click('#checkout')
      await waitFor(async () => /Order placed/.test(await parker.textContent('#message')), 3000, 'the order')
      await everywhere('0 left, 1 in carts', 'after the order')
      assert.deepEqual([...p.problems, ...third.problems], [])
    } finally {
      await p.page.close().catch(() => {})
      await third.page.close().catch(() => {})
    }
  })

  it('the naive page after your own checkout: the stock as it is, no "Add to cart"', { timeout: 60000 }, async () => {
    const tim = await openPage(browser.context, `${server.base}/commerce/products/limited-lamp?user_id=11&user_name=Tim`, 'tim')
    try {
      await tim.page.waitForSelector('.phx-connected', { timeout: 10000 })
      const before = Number(await tim.page.textContent('#stock'))
      await tim.page.click('#add')
      await tim.page.waitForSelector('#checkout')
      await tim.page.click('#checkout')
      await waitFor(async () => /Order placed/.test(await tim.page.textContent('#message').catch(() => '')), 3000, 'the order')
      assert.equal(await tim.page.$('#add'), null, 'no "Add to cart" under your own order')
      assert.ok(await tim.page.isVisible('#ordered'))
      assert.equal(Number(await tim.page.textContent('#stock')), before - 1, 'the stock after the order')
      assert.deepEqual(tim.problems, [])
    } finally {
      await tim.page.close().catch(() => {})
    }
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
