package live

import "github.com/parley-go/parley/live/diff"

// Rendered is what a view's Render returns: the rendered tree of its page
// ([diff.Node], an alias so that a view needs package live alone). Build
// it with [Socket.RenderTemplate]; components with
// [ComponentSocket.RenderTemplate].
type Rendered = diff.Node
