module github.com/parley-go/parley/bench/peers/jfynelive

go 1.26

require (
	github.com/jfyne/live v0.16.3
	github.com/parley-go/parley/bench/peers/ctl v0.0.0
)

require (
	github.com/coder/websocket v1.8.14 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/rs/xid v1.6.0 // indirect
	golang.org/x/net v0.47.0 // indirect
	golang.org/x/time v0.14.0 // indirect
)

replace github.com/parley-go/parley/bench/peers/ctl => ../ctl
