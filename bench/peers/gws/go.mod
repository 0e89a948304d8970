module github.com/parley-go/parley/bench/peers/gws

go 1.26

require (
	github.com/lxzan/gws v1.8.9
	github.com/parley-go/parley/bench/peers/ctl v0.0.0
)

require (
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/klauspost/compress v1.17.9 // indirect
)

replace github.com/parley-go/parley/bench/peers/ctl => ../ctl
