module github.com/parley-go/parley

go 1.26
