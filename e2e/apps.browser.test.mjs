// Every demo app as a new user meets it, in headless Chromium: the index
// says which talk each app comes from and to open two windows (and offers
// a second shopper); every page links back to the index; the pages are
// usable at 390 px width (no sideways scrolling); the counter is styled
// like the rest.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'

const PAGES = [
  '/lobby', '/party', '/draw', '/counter', '/chat/rooms/1', '/chat/login', '/social', '/commerce',
  '/commerce/better_products/rare-raincoat?user_id=110&user_name=Parker',
  '/commerce/products/scarce-scarf?user_id=11&user_name=Tim', '/commerce/cart?user_id=110&user_name=Parker', '/blog'
]

describe('all apps', () => {
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

  it('the index names each talk, says to open two windows, offers a second user', { timeout: 60000 }, async () => {
    const p = await openPage(browser.context, `${server.base}/`, 'index')
    try {
      assert.match(await p.page.textContent('#how'), /two windows/)
      const entries = await p.page.$$eval('#apps li', lis => lis.map(li => ({
        name: li.querySelector('a.app').textContent, talk: li.querySelector('.talk')?.textContent || '', second: li.querySelector('a.second')?.getAttribute('href') || ''
      })))
      for (const e of entries.filter(e => e.name !== 'Counter')) assert.match(e.talk, /^From the talk /, `${e.name} names its talk`)
      for (const want of ['Chat', 'Pointing Party', 'Lobby', 'Social feed', 'Commerce, side by side', 'Blog']) {
        assert.ok(entries.some(e => e.name === want), `the index lists ${want}`)
      }
      const second = entries.find(e => e.name === 'Commerce, better').second
      assert.match(second, /user_name=Andrew/)
      // The second shopper is a different user from the first.
      const a = await openPage(browser.context, `${server.base}${await p.page.getAttribute('#apps li a.app[href*="Parker"]', 'href')}`, 'parker')
      const b = await openPage(browser.context, `${server.base}${second}`, 'andrew')
      for (const q of [a, b]) await q.page.waitForSelector('.phx-connected', { timeout: 10000 })
      assert.deepEqual([await a.page.textContent('#who'), await b.page.textContent('#who')], ['Parker', 'Andrew'])
      await a.page.close()
      await b.page.close()
      assert.deepEqual(p.problems, [])
    } finally {
      await p.page.close().catch(() => {})
    }
  })

  it('every page links back to the index and fits 390 px', { timeout: 120000 }, async () => {
    for (const path of PAGES) {
      const p = await openPage(browser.context, `${server.base}${path}`, path)
      try {
        await p.page.setViewportSize({ width: 390, height: 844 })
        if (!['/lobby', '/party', '/draw', '/chat/login', '/social', '/commerce'].includes(path)) {
          await p.page.waitForSelector('.phx-connected', { timeout: 10000 })
        }
        const home = await p.page.$('a#home')
        assert.ok(home, `${path}: a link back to the index`)
        assert.equal(await home.getAttribute('href'), '/')
        const over = await p.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
        assert.ok(over <= 0, `${path}: ${over} px of sideways scrolling at 390 px`)
        if (path === '/social' || path === '/commerce') {
          // The side-by-side pages stack their frames at phone width.
          const frames = await p.page.$$eval('iframe', fs => fs.map(f => f.getBoundingClientRect().width))
          for (const w of frames) assert.ok(w >= 300, `${path}: a frame ${w} px wide`)
        }
        if (path === '/counter') {
          const font = await p.page.$eval('.counter', el => getComputedStyle(el).fontFamily)
          assert.match(font, /system-ui/, 'the counter is styled like the rest')
        }
        assert.deepEqual(p.problems, [], path)
      } finally {
        await p.page.close().catch(() => {})
      }
    }
  })
})
