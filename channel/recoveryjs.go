package channel

import (
	_ "embed"
	"slices"
)

//go:embed recovery.js
var recoveryJS []byte

// RecoveryJS returns recovery.js, the ES module of a few lines that makes a
// phoenix client channel recover missed broadcasts on a [WithHistory] route
// (see its header for the API). Serve it with the page's scripts, or copy
// it into the app's bundle.
func RecoveryJS() []byte { return slices.Clone(recoveryJS) }
