// Package blog is the reading-ghosts demo: blog posts at /blog/{slug}
// where every reader has a colored tag at the left edge of the article
// showing how far down the post they are. A JS hook (assets/ghosts.js)
// pushes the reader's scroll position, a fraction 0–1, at most every
// 200 ms; the view keeps it in the presence tracker (topic "blog:<slug>",
// meta {pos, color, name}); every other reader's view hears the presence
// diff and renders its list of tags again, so only the moved tag's new
// position travels. A reader whose connection ends, however it ends,
// leaves the tracker when the view terminates, and its tag disappears for
// the others.
//
// Entry points: [New] builds the app, [App.Register] routes /blog and
// /blog/{slug} on a live.Server in their own live session, whose layout
// loads the hook before the live client, and [Assets] serves the hook
// under [AssetsPrefix].
package blog

import (
	"embed"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"

	"github.com/parley-go/parley/live"
	"github.com/parley-go/parley/live/render"
	"github.com/parley-go/parley/presence"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/ghosts.js
var assetFS embed.FS

var (
	postTmpl  = render.Must(render.New("post.html").ParseFS(templateFS, "templates/post.html"))
	indexTmpl = render.Must(render.New("index.html").ParseFS(templateFS, "templates/index.html"))
)

// AssetsPrefix is the URL path under which [Assets] is mounted.
const AssetsPrefix = "/assets/blog/"

// HookScript is the module script that registers the ReadingGhost hook on
// window.ParleyHooks; the blog layout loads it before the live client.
const HookScript = AssetsPrefix + "ghosts.js"

// Assets serves the blog's scripts; mount it with
// http.StripPrefix(AssetsPrefix, Assets()).
func Assets() http.Handler {
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		panic(err)
	}
	h, err := live.StaticFiles(sub) // files only: no directory listing
	if err != nil {
		panic(err)
	}
	return h
}

// Config configures the app.
type Config struct {
	// Tracker keeps the readers of every post; required.
	Tracker *presence.Tracker
	Logger  *slog.Logger
}

// App is the blog demo.
type App struct {
	cfg   Config
	posts []Post
}

// New loads the posts.
func New(cfg Config) (*App, error) {
	if cfg.Tracker == nil {
		return nil, errors.New("blog: a presence Tracker is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	posts, err := loadPosts()
	if err != nil {
		return nil, err
	}
	return &App{cfg: cfg, posts: posts}, nil
}

// Posts returns the posts, in index order.
func (a *App) Posts() []Post { return a.posts }

// Register routes /blog and /blog/{slug} on l, in the live session "blog"
// whose layout loads [HookScript] before the live client.
func (a *App) Register(l *live.Server) {
	g := l.Group("blog", live.GroupOptions{Layout: Layout})
	g.Handle("/blog", func() live.View { return &indexView{app: a} })
	g.Handle("/blog/{slug}", func() live.View { return &postView{app: a} })
	l.Component(ghostComponent, func() live.Component { return ghost{} })
}

// Layout is live.DefaultLayout with [HookScript] first among the module
// scripts: module scripts run in document order, so the hook is on
// window.ParleyHooks when the live client starts.
func Layout(w io.Writer, p *live.Page) error {
	q := *p
	q.Scripts = append([]string{HookScript}, p.Scripts...)
	return live.DefaultLayout(w, &q)
}

// Topic is the presence topic of a post's readers.
func Topic(slug string) string { return "blog:" + slug }

// post returns the post with slug.
func (a *App) post(slug string) (Post, bool) {
	for _, p := range a.posts {
		if p.Slug == slug {
			return p, true
		}
	}
	return Post{}, false
}
