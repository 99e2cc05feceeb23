module github.com/hkloudou/lake/v2

go 1.26
