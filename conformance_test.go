package lake_test

import (
	"testing"

	"github.com/hkloudou/lake/v2/internal/s3test"
	"github.com/hkloudou/lake/v2/storage"
)

// A backend gives each test of the core suite a fresh object store, shared
// by every client the test opens, as processes share a bucket.
type backend struct {
	name string
	open func(t *testing.T) storage.Storage
}

var backends = []backend{
	{"memory", func(t *testing.T) storage.Storage { return storage.NewMemoryStorage() }},
	{"local", func(t *testing.T) storage.Storage {
		local, err := storage.NewLocalStorage(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return local
	}},
	{"s3", func(t *testing.T) storage.Storage {
		server := s3test.Start(t)
		s3, err := storage.NewS3Storage(storage.S3Options{
			Endpoint: server.Endpoint, Region: server.Region, Bucket: server.Bucket,
			AccessKey: server.AccessKey, SecretKey: server.SecretKey,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s3
	}},
}

// coreSuite is the write/read/snapshot behaviour every backend must show.
var coreSuite = []struct {
	name string
	test func(*testing.T, storage.Storage)
}{
	{"QuickStartPrintsTheMergedDocumentAsJSONText", testQuickStartPrintsTheMergedDocumentAsJSONText},
	{"ReadOfACatalogNeverWrittenIsAnEmptyDocument", testReadOfACatalogNeverWrittenIsAnEmptyDocument},
	{"MergeTypesAndPathFormsThroughWriteAndRead", testMergeTypesAndPathFormsThroughWriteAndRead},
	{"DeltasThatCannotApplyAreSkippedAndReported", testDeltasThatCannotApplyAreSkippedAndReported},
	{"IdenticalDeltasAreEachKeptInTheLog", testIdenticalDeltasAreEachKeptInTheLog},
	{"ConcurrentWritersAndSnapshottingReadersLoseNothing", testConcurrentWritersAndSnapshottingReadersLoseNothing},
	{"TheHighestVersionWinsForEveryReader", testTheHighestVersionWinsForEveryReader},
	{"AReadAfterASnapshotFetchesOnlyTheSnapshotAndNewerDeltas", testAReadAfterASnapshotFetchesOnlyTheSnapshotAndNewerDeltas},
	{"ASnapshotIsSavedOnlyWhenThereIsSomethingNew", testASnapshotIsSavedOnlyWhenThereIsSomethingNew},
	{"ConcurrentSnapshotSavesNeverMoveThePointerBackwards", testConcurrentSnapshotSavesNeverMoveThePointerBackwards},
	{"ACorruptSnapshotFallsBackToTheLog", testACorruptSnapshotFallsBackToTheLog},
	{"AFailedSnapshotSaveDoesNotFailTheRead", testAFailedSnapshotSaveDoesNotFailTheRead},
	{"ReadYourWritesByVersion", testReadYourWritesByVersion},
}

func TestCoreSuite(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, tc := range coreSuite {
				t.Run(tc.name, func(t *testing.T) { tc.test(t, b.open(t)) })
			}
		})
	}
}
