// A live-validated form (live.Form) in headless Chromium with the official
// phoenix_live_view client: no error for a field before the user touches
// it, the error live after, a submit, and phx-disable-with while it is in
// flight.

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startServer, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'

describe('live form validation in headless Chromium', () => {
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

  it('shows errors only for touched fields, then submits', { timeout: 60000 }, async () => {
    const { page, problems, sent } = await openPage(browser.context, `${server.base}/e2e/form`, 'form')
    await page.waitForSelector('.phx-connected', { timeout: 10000 })
    const changes = () => sent.map(f => JSON.parse(f.payload)).filter(m => m[3] === 'event' && m[4].event === 'validate')

    // typing an email: the name is blank (invalid) but untouched: no error
    await page.fill('#user_email', 'ana')
    await waitFor(async () => (await page.textContent('#email-error').catch(() => '')) === 'must have an @', 5000, 'the email error shows live')
    assert.ok(changes().length >= 1)
    assert.equal(await page.$('#name-error'), null, 'no error on the untouched name')

    // the name touched and left blank: its error shows
    await page.fill('#user_name', 'x')
    await page.fill('#user_name', '')
    await waitFor(async () => (await page.textContent('#name-error').catch(() => '')) === "can't be blank", 5000, 'the name error shows')
    await page.fill('#user_name', 'a'.repeat(25))
    await waitFor(async () => (await page.textContent('#name-error').catch(() => '')).startsWith('is too long'), 5000, 'the too-long error shows')
    await page.fill('#user_name', 'Ana')
    await page.fill('#user_email', 'ana@example.com')
    await waitFor(async () => (await page.$$('.error')).length === 0, 5000, 'the errors clear')

    // record the submit button's texts while the submit is in flight
    await page.evaluate(() => {
      const b = document.querySelector('#save')
      window.saveTexts = [b.textContent]
      new MutationObserver(() => window.saveTexts.push(b.textContent)).observe(b, { childList: true, characterData: true, subtree: true })
    })
    await page.click('#save')
    await waitFor(async () => (await page.textContent('#saved')) === 'Saved Ana <ana@example.com>', 5000, 'the submit is saved')
    const texts = await page.evaluate(() => window.saveTexts)
    assert.ok(texts.includes('Saving…'), `phx-disable-with showed: ${JSON.stringify(texts)}`)
    await waitFor(async () => (await page.textContent('#save')) === 'Save', 5000, 'the button is restored')
    assert.deepEqual(problems, [])
  })
})
