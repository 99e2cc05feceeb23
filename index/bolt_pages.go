package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// checkPages checks the page structure of a bbolt file by reading it (with
// ReadAt, never through a memory map), before bbolt opens it.
//
// bbolt trusts its file: it follows page references into its memory map
// without bounds checks. A damaged reference makes it read outside the
// mapped file (a SIGBUS or SIGSEGV, which kills the process unless the
// goroutine asked for panics on faults, and bbolt's own Tx.Check runs in a
// goroutine of its own), recurse forever along a cycle (a fatal stack
// overflow, not a panic), or allocate a freelist of a garbage length. None
// of these can be recovered. So before bbolt maps the file, this walks the
// tree that bbolt would use, from the meta page bbolt would pick, and
// refuses a file where any page it would visit is out of range, beyond the
// end of the file, of the wrong type, has elements or keys outside itself,
// or is reached twice (which is how a cycle shows), and a freelist that is
// out of range. Once this passes, every page bbolt can reach is a real page
// of the file, reached once, so its traversals (and Tx.Check) terminate and
// stay inside the mapping.
//
// Cost: one read of every reachable page and a bit per page: linear in the
// file's size, about 240 MB/s on a warm page cache (see boltCheckLimit).
//
// This mirrors bbolt v1.5.0's on-disk format (go.etcd.io/bbolt/internal/
// common): a page is a 16-byte header {id u64, flags u16, count u16,
// overflow u32} in the machine's byte order, followed by count elements of
// 16 bytes (branch: {pos u32, ksize u32, pgid u64}; leaf: {flags u32, pos
// u32, ksize u32, vsize u32}), pos counting from the element itself. A meta
// page holds {magic, version, page size, flags u32; root bucket {root pgid,
// sequence u64}; freelist pgid, high-water pgid, txid, checksum u64}, the
// checksum FNV-64a over what precedes it.
func checkPages(f *os.File) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.Size() == 0 {
		return nil // a new file: bbolt initializes it
	}
	c := &pageChecker{f: f, size: info.Size()}
	return c.run()
}

const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	boltNoFreelist   = ^uint64(0)
	pageHeaderSize   = 16
	pageElementSize  = 16
	bucketHeaderSize = 16
	flagBranch       = 0x01
	flagLeaf         = 0x02
	flagMeta         = 0x04
	flagFreelist     = 0x10
	flagBucketLeaf   = 0x01
	// maxTreeDepth bounds the recursion (tree levels plus nested buckets).
	// The engine nests four buckets deep and a tree of a billion keys is
	// under ten levels high.
	maxTreeDepth = 64
)

var ne = binary.NativeEndian

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	hwm      uint64
	txid     uint64
}

type pageChecker struct {
	f    *os.File
	size int64
	ps   uint64
	meta boltMeta
	// seen has a bit per page below the high-water mark.
	seen []uint64
}

func (c *pageChecker) isSeen(id uint64) bool { return c.seen[id/64]&(1<<(id%64)) != 0 }
func (c *pageChecker) see(id uint64)         { c.seen[id/64] |= 1 << (id % 64) }

func (c *pageChecker) run() error {
	if err := c.pickMeta(); err != nil {
		return err
	}
	if c.meta.hwm < 2 || c.meta.hwm*c.ps > uint64(c.size) {
		return fmt.Errorf("the meta page's high-water mark, page %d, lies beyond the end of the file (%d bytes of %d-byte pages)", c.meta.hwm, c.size, c.ps)
	}
	c.seen = make([]uint64, (c.meta.hwm+63)/64)
	c.see(0)
	c.see(1)
	var freed []uint64
	if c.meta.freelist != boltNoFreelist {
		var err error
		if freed, err = c.freelist(c.meta.freelist); err != nil {
			return err
		}
	}
	if c.meta.root == 0 {
		return errors.New("the root bucket is inline, which bbolt never writes")
	}
	if err := c.tree(c.meta.root, 0); err != nil {
		return err
	}
	for _, id := range freed {
		if c.isSeen(id) {
			return fmt.Errorf("page %d is both free and in use", id)
		}
	}
	return nil
}

// pickMeta finds the page size and the meta page bbolt will use: the valid
// one with the higher transaction ID.
func (c *pageChecker) pickMeta() error {
	var page [4096]byte
	readMeta := func(off int64) (boltMeta, bool) {
		if n, _ := c.f.ReadAt(page[:], off); n < pageHeaderSize+64 {
			return boltMeta{}, false
		}
		m := page[pageHeaderSize:]
		h := fnv.New64a()
		h.Write(m[:56])
		if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion || ne.Uint64(m[56:]) != h.Sum64() {
			return boltMeta{}, false
		}
		return boltMeta{pageSize: ne.Uint32(m[8:]), root: ne.Uint64(m[16:]), freelist: ne.Uint64(m[32:]), hwm: ne.Uint64(m[40:]), txid: ne.Uint64(m[48:])}, true
	}
	// As bbolt's getPageSize: meta 0's page size, else meta 1's, found at
	// 1 KiB << i.
	m0, ok0 := readMeta(0)
	if ok0 {
		c.ps = uint64(m0.pageSize)
	} else {
		for i := 0; i <= 14; i++ {
			off := int64(1024) << i
			if off >= c.size-1024 {
				break
			}
			if m, ok := readMeta(off); ok {
				c.ps = uint64(m.pageSize)
				break
			}
		}
	}
	if c.ps < 1024 || c.ps > 1<<24 || c.ps&(c.ps-1) != 0 {
		return errors.New("neither meta page is valid (bad magic, version or checksum)")
	}
	m1, ok1 := readMeta(int64(c.ps))
	switch {
	case ok0 && ok1:
		c.meta = m0
		if m1.txid > m0.txid {
			c.meta = m1
		}
	case ok0:
		c.meta = m0
	case ok1:
		c.meta = m1
	default:
		return errors.New("neither meta page is valid (bad magic, version or checksum)")
	}
	return nil
}

// page reads page id with its overflow pages, checking its header, and
// marks them seen.
func (c *pageChecker) page(id uint64, what string) ([]byte, error) {
	if id < 2 || id >= c.meta.hwm {
		return nil, fmt.Errorf("%s refers to page %d, outside the file's pages 2..%d", what, id, c.meta.hwm-1)
	}
	buf := make([]byte, c.ps)
	if _, err := c.f.ReadAt(buf, int64(id*c.ps)); err != nil {
		return nil, fmt.Errorf("%s: page %d: %w", what, id, readErr(err))
	}
	if got := ne.Uint64(buf[0:]); got != id {
		return nil, fmt.Errorf("%s: page %d identifies itself as page %d", what, id, got)
	}
	overflow := uint64(ne.Uint32(buf[12:]))
	if id+overflow >= c.meta.hwm {
		return nil, fmt.Errorf("%s: page %d with %d overflow pages runs past the high-water mark %d", what, id, overflow, c.meta.hwm)
	}
	for i := id; i <= id+overflow; i++ {
		if c.isSeen(i) {
			return nil, fmt.Errorf("%s: page %d is reached twice", what, i)
		}
		c.see(i)
	}
	if overflow > 0 {
		buf = append(buf, make([]byte, overflow*c.ps)...)
		if _, err := c.f.ReadAt(buf[c.ps:], int64((id+1)*c.ps)); err != nil {
			return nil, fmt.Errorf("%s: page %d: %w", what, id, readErr(err))
		}
	}
	return buf, nil
}

func readErr(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("beyond the end of the file")
	}
	return err
}

func (c *pageChecker) freelist(id uint64) ([]uint64, error) {
	p, err := c.page(id, "the freelist")
	if err != nil {
		return nil, err
	}
	if flags := ne.Uint16(p[8:]); flags != flagFreelist {
		return nil, fmt.Errorf("the freelist, page %d, has type %#x", id, flags)
	}
	start, n := uint64(pageHeaderSize), uint64(ne.Uint16(p[10:]))
	if n == 0xFFFF {
		if len(p) < pageHeaderSize+8 {
			return nil, fmt.Errorf("the freelist, page %d, is truncated", id)
		}
		n = ne.Uint64(p[pageHeaderSize:])
		start += 8
	}
	if n > (uint64(len(p))-start)/8 {
		return nil, fmt.Errorf("the freelist, page %d, claims %d pages, more than it holds", id, n)
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = ne.Uint64(p[start+8*uint64(i):])
		if ids[i] < 2 || ids[i] >= c.meta.hwm {
			return nil, fmt.Errorf("the freelist, page %d, lists page %d, outside pages 2..%d", id, ids[i], c.meta.hwm-1)
		}
	}
	return ids, nil
}

// tree checks the B+tree rooted at page id and every bucket below it.
func (c *pageChecker) tree(id uint64, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("page %d lies more than %d levels deep", id, maxTreeDepth)
	}
	p, err := c.page(id, "a tree")
	if err != nil {
		return err
	}
	switch flags := ne.Uint16(p[8:]); flags {
	case flagBranch:
		n := int(ne.Uint16(p[10:]))
		if n == 0 {
			return fmt.Errorf("branch page %d has no elements", id)
		}
		if err := elementsFit(p, n, id); err != nil {
			return err
		}
		for i := range n {
			e := p[pageHeaderSize+i*pageElementSize:]
			if err := within(p, pageHeaderSize+i*pageElementSize, ne.Uint32(e[0:]), ne.Uint32(e[4:]), 0, id, i); err != nil {
				return err
			}
			if err := c.tree(ne.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
		}
		return nil
	case flagLeaf:
		return c.leaf(p, id, depth)
	default:
		return fmt.Errorf("page %d in a tree has type %#x, not branch or leaf", id, flags)
	}
}

// leaf checks a leaf page (or an inline bucket's page, id 0) and the
// buckets it holds.
func (c *pageChecker) leaf(p []byte, id uint64, depth int) error {
	n := int(ne.Uint16(p[10:]))
	if err := elementsFit(p, n, id); err != nil {
		return err
	}
	for i := range n {
		off := pageHeaderSize + i*pageElementSize
		e := p[off:]
		pos, ksize, vsize := ne.Uint32(e[4:]), ne.Uint32(e[8:]), ne.Uint32(e[12:])
		if err := within(p, off, pos, ksize, vsize, id, i); err != nil {
			return err
		}
		if ne.Uint32(e[0:])&flagBucketLeaf == 0 {
			continue
		}
		start := uint64(off) + uint64(pos) + uint64(ksize)
		value := p[start : start+uint64(vsize)]
		if err := c.bucket(value, id, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (c *pageChecker) bucket(value []byte, id uint64, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("a bucket on page %d lies more than %d levels deep", id, maxTreeDepth)
	}
	if len(value) < bucketHeaderSize {
		return fmt.Errorf("a bucket header on page %d is %d bytes", id, len(value))
	}
	if root := ne.Uint64(value); root != 0 {
		return c.tree(root, depth)
	}
	inline := value[bucketHeaderSize:]
	if len(inline) < pageHeaderSize {
		return fmt.Errorf("an inline bucket on page %d is truncated", id)
	}
	if flags := ne.Uint16(inline[8:]); flags != flagLeaf {
		return fmt.Errorf("an inline bucket on page %d has type %#x", id, flags)
	}
	return c.leaf(inline, id, depth)
}

func elementsFit(p []byte, n int, id uint64) error {
	if pageHeaderSize+n*pageElementSize > len(p) {
		return fmt.Errorf("page %d claims %d elements, more than it holds", id, n)
	}
	return nil
}

// within checks that element i (at off) has its key and value inside p.
func within(p []byte, off int, pos, ksize, vsize uint32, id uint64, i int) error {
	if end := uint64(off) + uint64(pos) + uint64(ksize) + uint64(vsize); end > uint64(len(p)) || pos < pageElementSize {
		return fmt.Errorf("element %d of page %d points outside the page (at %d+%d, %d+%d bytes of %d)", i, id, off, pos, ksize, vsize, len(p))
	}
	return nil
}
