module github.com/hkloudou/lake/v2

go 1.26.0

require (
	github.com/evanphx/json-patch/v5 v5.9.11
	github.com/google/uuid v1.6.0
	github.com/redis/rueidis v1.0.79
	golang.org/x/crypto v0.59.0
	golang.org/x/sync v0.25.0
)

require golang.org/x/sys v0.50.0 // indirect
