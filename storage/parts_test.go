package storage

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// FuzzParts decodes arbitrary bytes as a multi-part object and as a frame,
// which must never panic, and round-trips parts cut from them through
// encodeParts. Its seed corpus is in testdata/fuzz/FuzzParts.
func FuzzParts(f *testing.F) {
	valid, _, _ := encodeParts(testParts(3, 0, 40))
	f.Add(valid)
	f.Add(valid[:len(valid)-7])
	f.Add([]byte("LKPK\x01"))
	f.Add([]byte("LKPK\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("LAKE\x02 not a pack"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// As an object: a clean decode re-encodes to the same bytes.
		parts, err := decodeObject("k", data)
		if err == nil {
			if len(parts) == 0 {
				t.Fatal("decodeObject returned no parts and no error")
			}
			clean := make([][]byte, 0, len(parts))
			for _, p := range parts {
				if p.Err != nil {
					if !errors.Is(p.Err, ErrCorrupt) || p.Data != nil {
						t.Fatalf("part error %v with %d bytes, want ErrCorrupt and none", p.Err, len(p.Data))
					}
					clean = nil
					break
				}
				clean = append(clean, p.Data)
			}
			if clean != nil {
				again, _, err := encodeParts(clean)
				if err != nil || !bytes.Equal(again, data) {
					t.Fatalf("decoded parts re-encode to %q, %v; want %q", again, err, data)
				}
			}
		} else if !errors.Is(err, ErrCorrupt) || parts != nil {
			t.Fatalf("decodeObject = %d parts, %v; want ErrCorrupt and none", len(parts), err)
		}

		// As a frame, under extents that fit it and extents that do not.
		var index int
		if len(data) > 0 {
			index = int(data[0] % 4)
		}
		for _, e := range []Extent{
			{Index: index, Offset: 5, Length: int64(len(data))},
			{Index: index, Offset: 5, Length: int64(len(data)) + 1},
			{Index: 0, Offset: 5, Length: frameHeaderSize},
			{Index: -1, Offset: -5, Length: -1},
		} {
			got, err := checkFrame("k", e, data)
			if err == nil && int64(len(got)) != e.Length-frameHeaderSize {
				t.Fatalf("checkFrame(%+v) = %d bytes", e, len(got))
			}
		}

		// Round trip: the bytes cut at every 0xff are the parts.
		in := bytes.Split(data, []byte{0xff})
		obj, ext, err := encodeParts(in)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(obj)) != ext[len(ext)-1].Offset+ext[len(ext)-1].Length || cap(obj) != len(obj) {
			t.Fatalf("object of %d bytes (capacity %d), last extent %+v", len(obj), cap(obj), ext[len(ext)-1])
		}
		out, err := decodeObject("k", obj)
		if err != nil || len(out) != len(in) {
			t.Fatalf("decodeObject of an encoded object = %d parts, %v; want %d", len(out), err, len(in))
		}
		for i, e := range ext {
			one, err := checkFrame("k", e, obj[e.Offset:])
			if out[i].Err != nil || !bytes.Equal(out[i].Data, in[i]) || err != nil || !bytes.Equal(one, in[i]) {
				t.Fatalf("part %d: decoded %q, %v; framed %q, %v; want %q", i, out[i].Data, out[i].Err, one, err, in[i])
			}
		}
	})
}

func TestEncodePartsFormat(t *testing.T) {
	obj, ext, err := encodeParts([][]byte{[]byte("ab"), nil})
	if err != nil {
		t.Fatal(err)
	}
	// CRC-32C of index 0 then "ab", and of index 1 alone, big-endian.
	want := []byte("LKPK\x01" +
		"\x00\x00\x00\x02" + "\x00\x00\x00\x00" + string(be32(frameCRC([]byte{0, 0, 0, 0}, []byte("ab")))) + "ab" +
		"\x00\x00\x00\x00" + "\x00\x00\x00\x01" + string(be32(frameCRC([]byte{0, 0, 0, 1}, nil))))
	if !bytes.Equal(obj, want) {
		t.Fatalf("encoded %q, want %q", obj, want)
	}
	if ext[0] != (Extent{0, 5, 14}) || ext[1] != (Extent{1, 19, 12}) {
		t.Fatalf("extents %+v", ext)
	}
	if frameCRC([]byte("1234"), []byte("56789")) != 0xe3069283 { // CRC-32C("123456789"), the standard check value
		t.Fatal("frameCRC is not CRC-32C")
	}
	if _, _, err := encodeParts(nil); err == nil {
		t.Fatal("encodeParts of no parts succeeded")
	}
	in := testParts(100, 0, 100)
	if n := testing.AllocsPerRun(10, func() { encodeParts(in) }); n != 2 {
		t.Fatalf("encodeParts allocated %v times; want 2, the object and the extents", n)
	}
}

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

func TestDecodeObjectRefusesWhatIsNotAPack(t *testing.T) {
	for _, obj := range []string{"", "LKPK", "LKPK\x02\x00", `{"a":1}`, "LAKE\x01"} {
		if parts, err := decodeObject("k", []byte(obj)); !errors.Is(err, ErrCorrupt) || parts != nil {
			t.Errorf("decodeObject(%q) = %v, %v; want ErrCorrupt", obj, parts, err)
		}
	}
	// A pack with its header only was cut before its first part.
	parts, err := decodeObject("k", []byte("LKPK\x01"))
	if err != nil || len(parts) != 1 || !errors.Is(parts[0].Err, ErrCorrupt) {
		t.Fatalf("decodeObject of a bare header = %v, %v; want one ErrCorrupt part", parts, err)
	}
}

// A part's data is capped: appending to it must not reach the next part.
func TestPartDataCannotBeAppendedIntoTheNextPart(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStorage()
	ext := putParts(t, s, "p", [][]byte{[]byte("first"), []byte("second")})
	got, err := GetParts(ctx, s, "p", ext)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(got[0].Data, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXX"...)
	if string(got[1].Data) != "second" {
		t.Fatalf("part 1 = %q after an append to part 0", got[1].Data)
	}
}

// rangeCounter counts the reads that reach a store that is a Ranger.
type rangeCounter struct {
	Storage
	gets, ranges atomic.Int64
}

func (c *rangeCounter) Get(ctx context.Context, key string) ([]byte, error) {
	c.gets.Add(1)
	return c.Storage.Get(ctx, key)
}

func (c *rangeCounter) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	c.ranges.Add(1)
	return c.Storage.(Ranger).GetRange(ctx, key, offset, length)
}

func TestGetPartsReadsNeighboursWithOneRange(t *testing.T) {
	for _, f := range []func(*testing.T) fixture{memoryFixture, localFixture} {
		ctx := testCtx(t)
		c := &rangeCounter{Storage: f(t).store}
		parts := testParts(1000, 1000, 1000, 0, 1000, rangeGap+1, 1000, 1000)
		ext := putParts(t, c, "p", parts)
		for _, tc := range []struct {
			want   []int
			ranges int64
		}{
			{[]int{2, 4, 3}, 1},
			{[]int{0, 4}, 1},       // a gap of 3 KiB is read through
			{[]int{6, 0}, 2},       // part 5 between them is over 256 KiB
			{[]int{7, 6, 5, 1}, 1}, // a big part that is wanted is no gap
			{[]int{0, 1, 2, 3, 4, 6, 7}, 2},
		} {
			c.ranges.Store(0)
			wantExt := make([]Extent, len(tc.want))
			wantData := make([][]byte, len(tc.want))
			for k, i := range tc.want {
				wantExt[k], wantData[k] = ext[i], parts[i]
			}
			got, err := GetParts(ctx, c, "p", wantExt)
			wantParts(t, got, err, wantData)
			if n := c.ranges.Load(); n != tc.ranges || c.gets.Load() != 0 {
				t.Errorf("%s: GetParts of %v made %d GetRange and %d Get calls; want %d and none",
					Kind(c.Storage), tc.want, n, c.gets.Load(), tc.ranges)
			}
		}
	}
}

// wholeObjects is a decorator as a user might write one: it knows only Put,
// Get and Delete, so the package functions fall back to them.
type wholeObjects struct {
	inner Storage
	gets  atomic.Int64
}

func (w *wholeObjects) Put(ctx context.Context, key string, data []byte) error {
	return w.inner.Put(ctx, key, data)
}

func (w *wholeObjects) Get(ctx context.Context, key string) ([]byte, error) {
	w.gets.Add(1)
	return w.inner.Get(ctx, key)
}

func (w *wholeObjects) Delete(ctx context.Context, key string) error {
	return w.inner.Delete(ctx, key)
}

func TestPartsThroughADecoratorThatKnowsNothingOfParts(t *testing.T) {
	ctx := testCtx(t)
	encrypt := func(s Storage) Storage {
		return encryptedFixture(func(*testing.T) fixture { return fixture{store: s} })(t).store
	}
	parts := testParts(10, 0, 2000, 30)

	// Outside Encrypted: the framed object is encrypted whole (version 1).
	mem := NewMemoryStorage()
	w := &wholeObjects{inner: encrypt(mem)}
	ext := putParts(t, w, "p", parts)
	if raw, err := mem.Get(ctx, "p"); err != nil || !bytes.HasPrefix(raw, []byte("LAKE\x01")) {
		t.Fatalf("object at rest = %.8q, %v; want a whole encrypted object", raw, err)
	}
	got, err := GetParts(ctx, w, "p", []Extent{ext[3], ext[1]})
	wantParts(t, got, err, [][]byte{parts[3], parts[1]})
	if n := w.gets.Load(); n != 1 {
		t.Fatalf("GetParts made %d Gets, want 1", n)
	}
	all, err := ReadParts(ctx, w, "p")
	wantParts(t, all, err, parts)

	// Inside Encrypted: the sealed parts are framed through the decorator.
	mem = NewMemoryStorage()
	w = &wholeObjects{inner: mem}
	e := encrypt(w)
	ext = putParts(t, e, "p", parts)
	if raw, err := mem.Get(ctx, "p"); err != nil || !bytes.HasPrefix(raw, []byte("LKPK\x01")) {
		t.Fatalf("object at rest = %.8q, %v; want a pack", raw, err)
	}
	got, err = GetParts(ctx, e, "p", []Extent{ext[2], ext[0]})
	wantParts(t, got, err, [][]byte{parts[2], parts[0]})
	all, err = ReadParts(ctx, e, "p")
	wantParts(t, all, err, parts)
	// ReadParts says where each part lies, as PutParts did: a recovery
	// builds log entries from it.
	for i, p := range all {
		if p.Extent != ext[i] {
			t.Fatalf("part %d read at %+v, stored at %+v", i, p.Extent, ext[i])
		}
	}
}

func BenchmarkPutParts(b *testing.B) {
	ctx := context.Background()
	s := NewMemoryStorage()
	sizes := make([]int, 16)
	for i := range sizes {
		sizes[i] = 1024
	}
	parts := testParts(sizes...)
	b.SetBytes(16 * 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PutParts(ctx, s, "bench/pack", parts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetParts reads 4 neighbouring 1 KiB parts of a pack of 64.
func BenchmarkGetParts(b *testing.B) {
	ctx := context.Background()
	s := NewMemoryStorage()
	sizes := make([]int, 64)
	for i := range sizes {
		sizes[i] = 1024
	}
	ext := putParts(b, s, "bench/pack", testParts(sizes...))
	want := []Extent{ext[40], ext[41], ext[43], ext[42]}
	b.SetBytes(4 * 1024)
	b.ReportAllocs()
	for b.Loop() {
		parts, err := GetParts(ctx, s, "bench/pack", want)
		if err != nil || parts[3].Err != nil {
			b.Fatal(err, parts[3].Err)
		}
	}
}
