// The social feed (firehose) in headless Chromium with the real
// phoenix_live_view client: two rate sliders (moving one moves the other
// and the rate for everybody), the naive feed that keeps scrolling at a
// high rate without more than ~10 diffs a second, the better feed that
// pauses and offers "Show N new posts", and its relevance filter. No
// console errors.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'

const LIMIT = 20

describe('social feed in headless Chromium', () => {
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

  const posts = p => p.page.$$eval('#posts > li', els => els.map(e => ({ id: e.id, rel: Number(e.dataset.relevance) })))
  const top = async p => ((await posts(p))[0] || {}).id

  it('rate slider shared, naive feed scrolls, better feed pauses and filters', { timeout: 120000 }, async (t) => {
    const rateA = await openPage(browser.context, `${server.base}/social/rate_intensity`, 'rate A')
    const rateB = await openPage(browser.context, `${server.base}/social/rate_intensity`, 'rate B')
    const naive = await openPage(browser.context, `${server.base}/social/posts`, 'posts')
    const better = await openPage(browser.context, `${server.base}/social/better_posts`, 'better_posts')
    const all = [rateA, rateB, naive, better]
    for (const p of all) await p.page.waitForSelector('.phx-connected', { timeout: 10000 })
    assert.equal(await rateB.page.textContent('#rate-label'), '0.2 posts/s')
    assert.equal(await better.page.$('#show-new'), null, 'no pause at 0.2 posts/s')

    // The highest rate, from one page: the other page's slider and label follow.
    await rateA.page.focus('#rate')
    await rateA.page.keyboard.press('End')
    await waitFor(async () => (await rateB.page.textContent('#rate-label')) === '50 posts/s', 3000, "the other page's label shows 50 posts/s")
    await waitFor(async () => (await rateB.page.inputValue('#rate')) === '100', 3000, "the other page's slider moves to the end")
    assert.equal(await rateA.page.textContent('#rate-label'), '50 posts/s')

    // The naive feed keeps scrolling: the top post changes again and
    // again, the page holds at most LIMIT posts, and the frames stay at
    // about one per flush (100 ms), not one per post.
    const from = Date.now()
    const startFrames = naive.frames.length
    let seen = new Set([await top(naive)])
    await waitFor(async () => { seen.add(await top(naive)); return seen.size >= 6 }, 10000, 'the naive feed shows new posts at the top, again and again')
    const elapsed = Date.now() - from
    const diffs = naive.frames.slice(startFrames).filter(f => f.payload.includes('"diff"')).length
    t.diagnostic(`naive feed at 50 posts/s: ${diffs} diff frames in ${elapsed} ms`)
    assert.ok(diffs <= elapsed / 100 + 3, `${diffs} diff frames in ${elapsed} ms: not coalesced`)
    assert.ok((await posts(naive)).length <= LIMIT)

    // The better feed pauses, shows the count, and does not move.
    await better.page.waitForSelector('#show-new', { timeout: 5000 })
    const held = await posts(better)
    const count = async () => Number((await better.page.textContent('#show-new')).match(/Show (\d+) new posts?/)[1])
    const first = await count()
    await waitFor(async () => (await count()) > first, 5000, 'the count of new posts grows')
    assert.deepEqual(await posts(better), held, 'the paused feed does not move')
    await better.page.click('#show-new')
    await waitFor(async () => (await top(better)) !== (held[0] || {}).id, 3000, 'the new posts are shown')
    assert.ok((await posts(better)).length <= LIMIT)

    // The relevance filter: nothing under 90 % on the page, before or
    // after showing the held posts.
    await waitFor(async () => (await posts(better)).some(p => p.rel < 90), 5000, 'a post under 90 % on the page')
    await better.page.selectOption('#min', '90')
    await waitFor(async () => (await posts(better)).every(p => p.rel >= 90), 3000, 'posts under 90 % hidden')
    await better.page.waitForSelector('#show-new', { timeout: 10000 })
    await better.page.click('#show-new')
    await waitFor(async () => { const ps = await posts(better); return ps.length > 0 && ps.every(p => p.rel >= 90) }, 3000, 'only relevant posts after showing the new ones')
    assert.match(better.page.url(), /\?min=90$/)

    // The slider says it is everyone's.
    assert.match(await rateA.page.textContent('#shared'), /shared by every viewer/)
    // Paused at the high rate, with the rule on the page.
    await better.page.waitForSelector('#show-new', { timeout: 10000 })
    assert.match(await better.page.textContent('#paused'), /resumes by itself/)

    // Back to the lowest rate from the other page. The client never
    // patches the value of a focused input, so the first page's slider
    // follows once it lost the focus (its label follows regardless).
    await rateA.page.locator('#rate').blur()
    await rateB.page.focus('#rate')
    await rateB.page.keyboard.press('Home')
    await waitFor(async () => (await rateA.page.textContent('#rate-label')) === '0.2 posts/s', 3000, "the first page's label shows 0.2 posts/s")
    await waitFor(async () => (await rateA.page.inputValue('#rate')) === '0', 3000, "the first page's slider moves to the start")

    // The posts slowed down: the paused feed resumes by itself, showing
    // what it held, and its banner goes (it is never left saying posts
    // come fast when they do not).
    const heldTop = await top(better)
    await waitFor(async () => !(await better.page.$('#paused')), 20000, 'the better feed resumes by itself')
    assert.ok(await better.page.isVisible('#pause-rule'), 'the rule is on the page while live')
    assert.notEqual(await top(better), heldTop, 'the held posts are shown')

    assert.deepEqual(all.flatMap(p => p.problems), [])
  })

  it('/social shows the slider and both feeds', { timeout: 60000 }, async () => {
    const p = await openPage(browser.context, `${server.base}/social`, 'social')
    for (const src of ['/social/rate_intensity', '/social/posts', '/social/better_posts']) {
      await waitFor(async () => {
        const f = p.page.frames().find(f => f.url().endsWith(src))
        return f && await f.$('.phx-connected')
      }, 10000, `${src} connected in its frame`)
    }
    assert.deepEqual(p.problems, [])
  })
})
