module github.com/parley-go/parley/bench/peers/gorilla

go 1.26

require (
	github.com/gorilla/websocket v1.5.3
	github.com/parley-go/parley/bench/peers/ctl v0.0.0
)

replace github.com/parley-go/parley/bench/peers/ctl => ../ctl
