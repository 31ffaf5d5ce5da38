module github.com/rakyll/globalconf

go 1.26.6
