package segment

import (
	"fmt"
	"strconv"
	"strings"
)

// Dir follows the catalog's name in every segment key. A catalog name has
// no '/', so the segments of catalog "a" never list under "a.b/".
const Dir = "/segments/"

// keyDigits is the width of each version in a key: maxVersion has 16
// digits, and zeros in front make byte order the order of the numbers.
const keyDigits = 16

// keyLen is the length of a key after its catalog name.
const keyLen = len(Dir) + keyDigits + len("-") + keyDigits + len(".json")

// Key is the object key of the segment of catalog that holds the range
// (after, last]. Keys of one catalog sort in version order. ParseKey
// refuses what Key makes of arguments Check would refuse.
func Key(catalog string, after, last int64) string {
	b := make([]byte, 0, len(catalog)+keyLen)
	b = append(b, catalog...)
	b = append(b, Dir...)
	b = appendPadded(b, after)
	b = append(b, '-')
	b = appendPadded(b, last)
	b = append(b, ".json"...)
	return string(b)
}

// appendPadded appends v in decimal, with zeros in front to keyDigits.
func appendPadded(b []byte, v int64) []byte {
	var d [20]byte
	digits := strconv.AppendInt(d[:0], v, 10)
	for range keyDigits - len(digits) {
		b = append(b, '0')
	}
	return append(b, digits...)
}

// ParseKey returns the catalog and range of a key Key wrote. Any other
// string, including another spelling of the same range, is ErrCorrupt.
func ParseKey(key string) (catalog string, after, last int64, err error) {
	corrupt := func(why string) (string, int64, int64, error) {
		return "", 0, 0, fmt.Errorf("%w: key %q: %s", ErrCorrupt, key, why)
	}
	slash := strings.IndexByte(key, '/')
	if slash < 0 {
		return corrupt("no " + Dir)
	}
	catalog, rest := key[:slash], key[slash:]
	if err := checkCatalog(catalog); err != nil {
		return corrupt(err.Error())
	}
	if len(rest) != keyLen || !strings.HasPrefix(rest, Dir) || !strings.HasSuffix(rest, ".json") ||
		rest[len(Dir)+keyDigits] != '-' {
		return corrupt("not <catalog>" + Dir + "<16 digits>-<16 digits>.json")
	}
	after, okAfter := parseDigits(rest[len(Dir) : len(Dir)+keyDigits])
	last, okLast := parseDigits(rest[len(Dir)+keyDigits+1 : len(Dir)+2*keyDigits+1])
	if !okAfter || !okLast {
		return corrupt("a version is not 16 decimal digits")
	}
	if err := checkRange(after, last); err != nil {
		return corrupt(err.Error())
	}
	return catalog, after, last, nil
}

// parseDigits reads s, 16 decimal digits at most, so that it fits an int64.
func parseDigits[T string | []byte](s T) (int64, bool) {
	var v int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int64(s[i]-'0')
	}
	return v, true
}
