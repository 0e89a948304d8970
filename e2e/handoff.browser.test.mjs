// Seed 000's session handoff between devices, in headless Chromium: a
// shopper's cart follows them live across their tabs (a product page in
// one, the cart in another: each follows what the other does), while the
// social feed's relevance filter stays with its tab (state that must not
// be shared).

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'

describe('session handoff between tabs', () => {
  let server
  let browser

  before(async () => {
    server = await startServer({ args: ['-hold-ttl', '60s'] })
    browser = await launch()
  })

  after(async () => {
    if (browser) await browser.close()
    if (server) await server.stop()
  })

  it('the cart follows its shopper across tabs', { timeout: 60000 }, async () => {
    const who = 'user_id=210&user_name=Pat'
    const product = await openPage(browser.context, `${server.base}/commerce/better_products/limited-lamp?${who}`, 'product tab')
    const cart = await openPage(browser.context, `${server.base}/commerce/cart?${who}`, 'cart tab')
    const phone = await openPage(browser.context, `${server.base}/commerce/better_products/limited-lamp?${who}`, 'second device')
    try {
      for (const p of [product, cart, phone]) await p.page.waitForSelector('.phx-connected', { timeout: 10000 })
      assert.ok(await cart.page.isVisible('#empty'))
      await product.page.click('#add')
      await cart.page.waitForSelector('#cart-limited-lamp', { timeout: 3000 })
      await phone.page.waitForSelector('#remaining', { timeout: 3000 }) // the other device shows the same reservation
      // Removed on the cart tab: the product tabs offer it again.
      await cart.page.click('#cart-limited-lamp button:has-text("Remove")')
      for (const p of [product, phone]) await waitFor(async () => !(await p.page.isDisabled('#add').catch(() => true)), 3000, `${p.name}: "Add to cart" again`)
      await cart.page.waitForSelector('#empty', { timeout: 3000 })
      // Added on the second device: the cart tab lists it.
      await phone.page.click('#add')
      await cart.page.waitForSelector('#cart-limited-lamp', { timeout: 3000 })
      assert.deepEqual([...product.problems, ...cart.problems, ...phone.problems], [])
    } finally {
      for (const p of [product, cart, phone]) await p.page.close().catch(() => {})
    }
  })

  it("the social feed's filter stays with its tab", { timeout: 60000 }, async () => {
    const a = await openPage(browser.context, `${server.base}/social/better_posts`, 'tab A')
    const b = await openPage(browser.context, `${server.base}/social/better_posts`, 'tab B')
    try {
      for (const p of [a, b]) await p.page.waitForSelector('.phx-connected', { timeout: 10000 })
      await a.page.selectOption('#min', '90')
      await waitFor(async () => /\?min=90$/.test(a.page.url()), 3000, 'tab A filters')
      // A round trip on tab B after A's change: B keeps its own filter.
      await b.page.selectOption('#min', '50')
      await waitFor(async () => /\?min=50$/.test(b.page.url()), 3000, 'tab B filters on its own')
      assert.equal(await a.page.inputValue('#min'), '90')
      assert.equal(await b.page.inputValue('#min'), '50')
      assert.deepEqual([...a.problems, ...b.problems], [])
    } finally {
      for (const p of [a, b]) await p.page.close().catch(() => {})
    }
  })
})
