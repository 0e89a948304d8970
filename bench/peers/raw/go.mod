module github.com/parley-go/parley/bench/peers/raw

go 1.26

require github.com/parley-go/parley/bench/peers/ctl v0.0.0

replace github.com/parley-go/parley/bench/peers/ctl => ../ctl
