package chat

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Login cookie: the user's name, signed for purpose loginPurpose.
const (
	loginCookie  = "parley_chat_user"
	loginCSRF    = "parley_chat_login_csrf"
	loginPurpose = "chat-login"
	loginMaxAge  = 30 * 24 * time.Hour
	// MaxName bounds a user name, in characters.
	MaxName = 40
)

type loginClaims struct {
	User string `json:"user"`
}

// cookieUser returns the user of the request's login cookie; bad is true
// when a cookie is present but does not verify (forged or expired).
func (a *App) cookieUser(r *http.Request) (string, bool) {
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" {
		return "", false
	}
	var cl loginClaims
	if err := a.signer.Verify(loginPurpose, c.Value, &cl); err != nil || validName(cl.User) != "" {
		return "", true
	}
	return cl.User, false
}

// validName explains what is wrong with a user name, or returns "".
func validName(name string) string {
	switch {
	case name == "":
		return "Choose a name."
	case !utf8.ValidString(name):
		return "That name is not valid text."
	case utf8.RuneCountInString(name) > MaxName:
		return "Names have at most 40 characters."
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) }) >= 0:
		return "Names cannot hold control characters."
	}
	return ""
}

// safeNext keeps a post-login destination on this site's chat pages.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/chat/rooms/") || strings.HasPrefix(next, "//") {
		return "/chat/rooms/1"
	}
	return u.RequestURI()
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in · Chat</title><link rel="icon" href="/favicon.svg">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:24rem;margin:2rem auto;padding:0 1rem}
input{font-size:1rem;padding:.35rem;width:100%;box-sizing:border-box}button{font-size:1rem;margin-top:.5rem}
.error{color:#b00020}</style>
</head><body>
<p><a id="home" href="/">← All apps</a></p>
<h1>Log in to the chat</h1>
<p>Your name is signed into a cookie: nobody else can post, edit or delete as you.</p>
{{with .Error}}<p id="login-error" class="error">{{.}}</p>{{end}}
<form id="login-form" method="post" action="/chat/login">
<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="next" value="{{.Next}}">
<label>Name <input name="user" value="{{.User}}" autocomplete="off" autofocus maxlength="40"></label>
<button>Log in</button></form>
</body></html>`))

type loginPage struct{ Error, CSRF, Next, User string }

func (a *App) loginForm(w http.ResponseWriter, r *http.Request) {
	a.renderLogin(w, r, http.StatusOK, loginPage{Next: safeNext(r.URL.Query().Get("next"))})
}

// renderLogin writes the form with a fresh double-submit token.
func (a *App) renderLogin(w http.ResponseWriter, _ *http.Request, status int, p loginPage) {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	p.CSRF = base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: loginCSRF, Value: p.CSRF, Path: "/chat/login", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = loginTmpl.Execute(w, p)
}

func (a *App) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		a.renderLogin(w, r, http.StatusBadRequest, loginPage{Error: "The form could not be read.", Next: "/chat/rooms/1"})
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	user := strings.TrimSpace(r.PostForm.Get("user"))
	c, err := r.Cookie(loginCSRF)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		a.renderLogin(w, r, http.StatusForbidden, loginPage{Error: "The form expired: please log in again.", Next: next, User: user})
		return
	}
	if msg := validName(user); msg != "" {
		a.renderLogin(w, r, http.StatusBadRequest, loginPage{Error: msg, Next: next, User: user})
		return
	}
	token, err := a.signer.Sign(loginPurpose, loginClaims{User: user})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: token, Path: "/", MaxAge: int(loginMaxAge / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/chat/login", http.StatusSeeOther)
}
