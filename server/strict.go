package server

import lake "github.com/hkloudou/lake/v2"

// readRequest builds the library request of GET /v1/catalogs/{catalog}.
func readRequest(catalog string, snap, strict bool) lake.ReadRequest {
	return lake.ReadRequest{Catalog: catalog, GenerateSnap: snap, Strict: strict}
}
