package social

import "net/http"

// pageHTML is the talk's slide: the rate slider above both feeds.
const pageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Social feed: firehose</title><link rel="icon" href="/favicon.svg">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;margin:1rem 2rem}header{display:flex;justify-content:space-between;align-items:center}
.feeds{display:flex;gap:1rem}.feeds iframe{flex:1;height:38rem;border:3px solid lightgray;border-radius:10px}
header iframe{height:5.5rem;width:26rem;max-width:100%;border:none}
@media (max-width:40rem){body{margin:.5rem}header{flex-direction:column;align-items:stretch}.feeds{flex-direction:column}.feeds iframe{height:30rem}}</style>
</head><body>
<p><a id="home" href="/">← All apps</a> · from the talk of seed 000: open this page in two windows, move the slider in one.</p>
<header><h2>Give the user quality over quantity</h2><iframe title="rate" src="/social/rate_intensity"></iframe></header>
<div class="feeds"><iframe title="naive feed" src="/social/posts"></iframe><iframe title="better feed" src="/social/better_posts"></iframe></div>
</body></html>`

// Page serves /social: the rate slider and both feeds side by side.
func (a *App) Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(pageHTML))
	})
}
