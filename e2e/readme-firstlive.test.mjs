// README.md's "Your first LiveView", as a new user pastes it: the test takes
// the <!-- file: NAME --> code blocks of that section from README.md itself,
// writes them into a scratch module whose go.mod replaces
// github.com/parley-go/parley with this checkout, builds it, runs it and
// clicks through the page in headless Chromium. If the README drifts from
// the code, this fails.
//
// The only edits to the snippet: the listen address becomes a free port, and
// `npm install` is replaced by a symlink to this checkout's node_modules
// (the same pinned phoenix and phoenix_live_view packages).

import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { ROOT, waitFor } from './server.mjs'
import { launch, openPage } from './browser.mjs'

// readmeFiles returns {name: content} of the marked blocks of a README section.
export async function readmeFiles (section) {
  const md = await readFile(path.join(ROOT, 'README.md'), 'utf8')
  const start = md.indexOf(`\n## ${section}\n`)
  assert.ok(start >= 0, `README.md has no "## ${section}" section`)
  const end = md.indexOf('\n## ', start + 1)
  const body = md.slice(start, end < 0 ? undefined : end)
  const files = {}
  const re = /<!-- file: ([\w./-]+) -->\n```\w*\n([\s\S]*?)\n```/g
  for (let m; (m = re.exec(body));) files[m[1]] = m[2] + '\n'
  return files
}

function run (cmd, args, cwd, env = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', d => { out += d })
    p.stderr.on('data', d => { out += d })
    p.on('error', reject)
    p.on('close', code => code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out}`)))
  })
}

function freePort () {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)) })
  })
}

describe("README's first LiveView, built from the README", () => {
  let dir, proc, browser
  let output = ''

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'parley-firstlive-'))
  })

  after(async () => {
    if (browser) await browser.close()
    if (proc && proc.exitCode === null) {
      proc.kill('SIGTERM')
      await new Promise(resolve => proc.once('exit', resolve))
    }
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('builds as pasted and the counter clicks in Chromium', { timeout: 240000 }, async () => {
    const files = await readmeFiles('Your first LiveView')
    assert.deepEqual(Object.keys(files).sort(), ['app.js', 'counter.html', 'main.go'])
    assert.match(files['main.go'], /127\.0\.0\.1:4000/)
    const port = await freePort()
    await writeFile(path.join(dir, 'main.go'), files['main.go'].replace('127.0.0.1:4000', `127.0.0.1:${port}`))
    await writeFile(path.join(dir, 'counter.html'), files['counter.html'])
    // `go get github.com/parley-go/parley` of the README, against the
    // checkout: a require of the unpublished version plus the replace.
    await writeFile(path.join(dir, 'go.mod'),
      `module hello\n\ngo 1.26\n\nrequire github.com/parley-go/parley v0.0.0\n\nreplace github.com/parley-go/parley => ${ROOT}\n`)
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'))
    await run('go', ['mod', 'tidy'], dir)
    await run('go', ['build', '-o', 'hello', '.'], dir)

    proc = spawn(path.join(dir, 'hello'), [], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PARLEY_SECRET_KEY_BASE: '' } })
    proc.stdout.on('data', d => { output += d })
    proc.stderr.on('data', d => { output += d })
    const base = `http://127.0.0.1:${port}`
    await waitFor(async () => (await fetch(base + '/')).ok, 20000, 'the README app to answer', () => output)
    // Without a secret, the README's app warns (as documented).
    await waitFor(() => output.includes('no secret key base'), 5000, 'the random-secret warning', () => output)

    browser = await launch()
    const { page, problems } = await openPage(browser.context, base + '/', 'firstlive')
    await page.waitForSelector('[data-phx-main].phx-connected', { timeout: 10000 })
    assert.equal(await page.title(), 'Counter')
    assert.equal(await page.textContent('#count'), '0')
    await page.click('#inc')
    await page.click('#inc')
    await page.click('#dec')
    await waitFor(async () => (await page.textContent('#count')) === '1', 5000, 'count 1 after + + −')
    assert.equal(await page.isVisible('.parley-reconnecting'), false)
    assert.deepEqual(problems, [])
  })

  it("the bundler route: README's app.js bundled with esbuild, no node_modules at run time", { timeout: 240000 }, async () => {
    const files = await readmeFiles('Your first LiveView')
    const bdir = path.join(dir, 'bundled')
    const run1 = await mkdtemp(path.join(os.tmpdir(), 'parley-bundled-run-')) // no node_modules here or above
    await mkdir(path.join(bdir, 'static'), { recursive: true })
    await symlink(path.join(ROOT, 'node_modules'), path.join(bdir, 'node_modules'))
    await writeFile(path.join(bdir, 'app.js'), files['app.js'])
    // README: npx esbuild app.js --bundle --format=esm --outfile=static/app.js
    await run(path.join(ROOT, 'node_modules', '.bin', 'esbuild'), ['app.js', '--bundle', '--format=esm', '--outfile=static/app.js'], bdir)
    const port = await freePort()
    await writeFile(path.join(bdir, 'counter.html'), files['counter.html'].replace('<main>', '<main>\n  <p id="clock" phx-hook="Clock"></p>'))
    // README's main.go with the three changes its "Bundling your own JS"
    // names: BundledClient, Scripts, and a handler for the bundle.
    let main = files['main.go']
    const edit = (from, to) => {
      assert.ok(main.includes(from), `README's main.go no longer has ${JSON.stringify(from)}`)
      main = main.replace(from, to)
    }
    edit('parley.New(parley.Config{})', 'parley.New(parley.Config{BundledClient: true})')
    edit('live.New(live.Config{})', 'live.New(live.Config{Scripts: []string{"/assets/app.js"}})')
    edit('\t_ "embed"\n', '\t"embed"\n\t"io/fs"\n')
    edit('//go:embed counter.html', '//go:embed static\nvar bundle embed.FS\n\n//go:embed counter.html')
    edit('\tlog.Fatal(http.ListenAndServe(', '\tstaticFS, _ := fs.Sub(bundle, "static")\n' +
      '\tif err := ep.Handle("GET /assets/app.js", http.StripPrefix("/assets/", http.FileServerFS(staticFS))); err != nil {\n' +
      '\t\tlog.Fatal(err)\n\t}\n\tlog.Fatal(http.ListenAndServe(')
    edit('127.0.0.1:4000', `127.0.0.1:${port}`)
    await writeFile(path.join(bdir, 'main.go'), main)
    await writeFile(path.join(bdir, 'go.mod'),
      `module bundled\n\ngo 1.26\n\nrequire github.com/parley-go/parley v0.0.0\n\nreplace github.com/parley-go/parley => ${ROOT}\n`)
    await run('go', ['mod', 'tidy'], bdir)
    await run('go', ['build', '-o', path.join(run1, 'bundled'), '.'], bdir)

    const p = spawn(path.join(run1, 'bundled'), [], { cwd: run1, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', d => { out += d })
    p.stderr.on('data', d => { out += d })
    try {
      const base = `http://127.0.0.1:${port}`
      await waitFor(async () => (await fetch(base + '/').catch(() => ({ ok: false }))).ok, 20000, 'the bundled app to answer', () => out)
      assert.equal((await fetch(base + '/assets/phoenix/phoenix.mjs')).status, 404, 'no npm files served')
      browser ??= await launch()
      const { page, problems } = await openPage(browser.context, base + '/', 'bundled')
      await page.waitForSelector('[data-phx-main].phx-connected', { timeout: 10000 })
      await waitFor(async () => (await page.textContent('#clock')).trim() !== '', 5000, 'the Clock hook mounted')
      await page.click('#inc')
      await waitFor(async () => (await page.textContent('#count')) === '1', 5000, 'a click')
      assert.deepEqual(problems, [])
    } finally {
      p.kill('SIGTERM')
      await new Promise(resolve => p.exitCode !== null ? resolve() : p.once('exit', resolve))
      await rm(run1, { recursive: true, force: true })
    }
  })
})
