module github.com/parley-go/parley/bench/peers/ctl

go 1.26
