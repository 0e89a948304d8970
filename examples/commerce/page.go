package commerce

import "net/http"

// sideBySideHTML is the talk's slide: two shoppers after the same scarce
// product, and the inventory widget a back office would watch.
const sideBySideHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Commerce: two shoppers, one raincoat</title><link rel="icon" href="/favicon.svg">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;margin:1rem 2rem}
.shoppers{display:flex;gap:1rem}.shoppers iframe{flex:1;min-width:0;height:26rem;border:3px solid lightgray;border-radius:10px}
iframe.inventory{width:100%;height:5rem;border:3px dashed lightgray;border-radius:10px;margin-top:1rem}
@media (max-width:40rem){body{margin:.5rem}.shoppers{flex-direction:column}.shoppers iframe{height:22rem}}</style>
</head><body>
<p><a id="home" href="/">← All apps</a> · from the talk of seed 000: Parker and Andrew want the last raincoat; the widget below is the stock room's view.</p>
<h2>Two shoppers, one raincoat</h2>
<div class="shoppers">
<iframe title="Parker" src="/commerce/better_products/rare-raincoat?user_id=110&amp;user_name=Parker"></iframe>
<iframe title="Andrew" src="/commerce/better_products/rare-raincoat?user_id=120&amp;user_name=Andrew"></iframe>
</div>
<iframe class="inventory" title="inventory" src="/commerce/inventory/rare-raincoat"></iframe>
</body></html>`

// Page serves /commerce: two shoppers side by side and the inventory
// widget.
func (a *App) Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(sideBySideHTML))
	})
}
