// The Pointing Party page in headless Chromium with the real phoenix
// client: users log in and see each other appear, a closed page disappears
// from the others, the first user starts pointing, everybody votes and sees
// who voted and the winner.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'
import { unique } from './clients.mjs'

describe('pointing party in headless Chromium', () => {
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

  // users lists the #users entries of a page as {name: className}.
  async function users (p) {
    return p.page.$$eval('#users li', lis => Object.fromEntries(lis.map(li => [li.dataset.user, li.className])))
  }

  function describePages (pages) {
    return () => pages.map(p => `--- ${p.name} problems: ${JSON.stringify(p.problems)}\nframes:\n${p.frames.map(f => '  ' + f.payload).join('\n')}`).join('\n')
  }

  // seesUsers waits until a page lists exactly names, each with the given class if any.
  async function seesUsers (p, names, cls, all, timeoutMs = 10000) {
    const want = [...names].sort()
    await waitFor(async () => {
      const got = await users(p)
      return JSON.stringify(Object.keys(got).sort()) === JSON.stringify(want) &&
        (!cls || want.every(n => got[n] === cls))
    }, timeoutMs, `${p.name} to list ${JSON.stringify(want)}${cls ? ` as ${cls}` : ''} (lists ${JSON.stringify(await users(p).catch(e => String(e)))})`, describePages(all))
  }

  it('users appear and leave, the driver starts, everybody votes and sees the winner', { timeout: 120000 }, async () => {
    const room = unique('party')
    const url = `${server.base}/party?room=${encodeURIComponent(room)}`
    const names = ['alice', 'bob', 'carol']
    const pages = []
    try {
      for (const name of [...names, 'dave']) {
        const p = await openPage(browser.context, url, name)
        p.name = name
        pages.push(p)
        assert.equal(await p.page.textContent('#room-name'), `#${room}`)
        await p.page.fill('#username', name)
        await p.page.click('#enter')
        await waitFor(async () => (await p.page.textContent('#status')) === `in #${room} as ${name}`, 10000, `${name} to join`, describePages(pages))
      }
      // everybody sees everybody, nobody has voted yet
      for (const p of pages) await seesUsers(p, [...names, 'dave'], 'waiting', pages)

      // dave closes his page: the others see him go
      const dave = pages.pop()
      await dave.page.close()
      for (const p of pages) await seesUsers(p, names, 'waiting', pages)

      // alice starts pointing: everybody gets the card, alice is the driver
      const [alice] = pages
      await alice.page.click('#start')
      for (const p of pages) {
        await waitFor(async () => (await p.page.textContent('#card-title')) === 'Sign in with a magic link', 10000, `${p.name} to see the first card`, describePages(pages))
        assert.equal(await p.page.isVisible('#current'), true)
        assert.equal(await p.page.isVisible('#no-card'), false)
        await waitFor(async () => /\(driver\)/.test(await p.page.textContent('#users li[data-user="alice"]')), 5000, `${p.name} to show alice as the driver`, describePages(pages))
      }

      // everybody votes: each vote shows on every page, the last one decides
      const votes = { alice: 3, bob: 3, carol: 5 }
      const voted = []
      for (const p of pages) {
        await p.page.click(`#votes button[data-points="${votes[p.name]}"]`)
        voted.push(p.name)
        for (const q of pages) {
          await waitFor(async () => {
            const got = await users(q)
            return names.every(n => got[n] === (voted.includes(n) ? 'voted' : 'waiting'))
          }, 10000, `${q.name} to show ${voted.join(', ')} as voted`, describePages(pages))
        }
        // the page marks the chosen button; the others stay open until the close
        if (voted.length < names.length) {
          await waitFor(() => p.page.$(`#votes button.chosen[data-points="${votes[p.name]}"]`), 3000, 'the chosen button')
          assert.equal(await p.page.isDisabled('#votes button[data-points="8"]'), false)
        }
      }
      for (const p of pages) {
        await waitFor(async () => (await p.page.textContent('#result')) === 'Winner: 3 points', 10000, `${p.name} to see the winner`, describePages(pages))
        // only the driver may deal the next card
        assert.equal(await p.page.isVisible('#next'), p.name === 'alice', `${p.name}: #next visibility`)
        // every vote is revealed; voting is over
        assert.deepEqual(await p.page.$$eval('#reveal li', lis => lis.map(li => li.textContent)), ['alice: 3', 'bob: 3', 'carol: 5'])
        assert.equal(await p.page.isDisabled('#votes button[data-points="8"]'), true)
      }

      assert.deepEqual(pages.flatMap(p => p.problems), [])
      assert.deepEqual(dave.problems, [])
    } finally {
      for (const p of pages) await p.page.close().catch(() => {})
    }
  })

  it('the driver leaves: the round still ends, a three-way tie lists all, votes change until the close', { timeout: 120000 }, async () => {
    const room = unique('party')
    const url = `${server.base}/party?room=${encodeURIComponent(room)}`
    const names = ['ann', 'ben', 'cat', 'dan']
    const pages = []
    try {
      for (const name of names) {
        const p = await openPage(browser.context, url, name)
        p.name = name
        pages.push(p)
        await p.page.fill('#username', name)
        await p.page.click('#enter')
        await waitFor(async () => (await p.page.textContent('#status')) === `in #${room} as ${name}`, 10000, `${name} to join`, describePages(pages))
      }
      for (const p of pages) await seesUsers(p, names, 'waiting', pages)
      const [ann, ben, cat, dan] = pages
      await ann.page.click('#start')
      for (const p of pages) await waitFor(async () => (await p.page.textContent('#card-title')) === 'Sign in with a magic link', 10000, `${p.name}: the card`, describePages(pages))
      // ben votes 1, then changes to 3; cat votes 5
      await ben.page.click('#votes button[data-points="1"]')
      await waitFor(() => ben.page.$('#votes button.chosen[data-points="1"]'), 3000, 'ben chose 1')
      await ben.page.click('#votes button[data-points="3"]')
      await waitFor(() => ben.page.$('#votes button.chosen[data-points="3"]'), 3000, 'ben changed to 3')
      await cat.page.click('#votes button[data-points="5"]')
      const rest = [ben, cat, dan]
      for (const p of rest) await seesUsers(p, names, null, pages)
      // the driver closes her page without voting: ben (first by name) drives
      await ann.page.close()
      pages.shift()
      for (const p of rest) {
        await seesUsers(p, ['ben', 'cat', 'dan'], null, pages)
        await waitFor(async () => /\(driver\)/.test(await p.page.textContent('#users li[data-user="ben"]')), 5000, `${p.name}: ben drives`, describePages(pages))
        assert.equal(await p.page.textContent('#result'), '', `${p.name}: dan has not voted`)
      }
      // dan votes: a three-way tie, every value listed and every vote shown
      await dan.page.click('#votes button[data-points="8"]')
      for (const p of rest) {
        await waitFor(async () => (await p.page.textContent('#result')) === 'Tie between 3, 5 and 8', 10000, `${p.name}: the tie`, describePages(pages))
        assert.deepEqual(await p.page.$$eval('#reveal li', lis => lis.map(li => li.textContent)), ['ben: 3', 'cat: 5', 'dan: 8'])
        assert.equal(await p.page.isVisible('#next'), p.name === 'ben', `${p.name}: #next`)
      }
      // a vote forged after the close is refused and changes nothing
      const reply = await cat.page.evaluate(() => new Promise(resolve => {
        window.partyChannel.push('user_estimated', { points: 13 }).receive('error', resolve).receive('ok', () => resolve('ok'))
      }))
      assert.deepEqual(reply, { reason: 'the round is closed: wait for the next card' })
      // the new driver deals the next card
      await ben.page.click('#next')
      for (const p of rest) await waitFor(async () => (await p.page.textContent('#card-title')) === 'Export reports as CSV', 10000, `${p.name}: the next card`, describePages(pages))
      assert.deepEqual(pages.flatMap(p => p.problems), [])
    } finally {
      for (const p of pages) await p.page.close().catch(() => {})
    }
  })
})
