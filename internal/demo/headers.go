package demo

import "net/http"

// SecurityHeaders wraps h with the demo's security headers: no MIME
// sniffing, no referrer across origins, framing by the same origin only
// (pages embed each other in iframes), and a Content-Security-Policy that
// fits the demo pages: module scripts from this origin only (no inline
// script, no eval), inline styles allowed (the pages carry <style> blocks
// and style attributes), sockets to this host only.
func SecurityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		hd.Set("X-Frame-Options", "SAMEORIGIN")
		hd.Set("Content-Security-Policy", CSP(r.Host))
		h.ServeHTTP(w, r)
	})
}

// CSP returns the demo's Content-Security-Policy for a request to host.
// 'self' matches ws: and wss: of the same host only in CSP Level 3
// browsers, so the socket URLs are listed explicitly.
func CSP(host string) string {
	return "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
		"connect-src 'self' ws://" + host + " wss://" + host + "; frame-ancestors 'self'; base-uri 'self'; " +
		"form-action 'self'; object-src 'none'"
}
