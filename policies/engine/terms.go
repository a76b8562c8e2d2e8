package engine

import (
	"hash/maphash"
	"strings"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
)

// termCache keeps input terms that reviews repeat: quantities ("100m"), images, names,
// field paths, the shapes of probes. Input terms are never changed by an evaluation, so one
// term can serve every review that needs it, and describing a typical Pod allocates little.
// The cache has a fixed number of slots and a value replaces whatever held its slot before,
// so its memory stays bounded whatever the reviews contain; keys longer than
// maxCachedKey are not kept.
type termCache[K comparable] struct {
	seed  maphash.Seed
	slots [1 << 10]atomic.Pointer[cachedTerm[K]]
}

type cachedTerm[K comparable] struct {
	key  K
	term *ast.Term
}

const maxCachedKey = 256

func newTermCache[K comparable]() *termCache[K] {
	return &termCache[K]{seed: maphash.MakeSeed()}
}

// get returns the term of key, making it (and keeping it) when it is not there. A string
// key is copied before it is kept, and make must copy the strings it puts in the term:
// the key may be a slice of a request's text, which must not stay alive with the cache.
// A nil term from make is returned and not kept.
func (c *termCache[K]) get(key K, make func(K) *ast.Term) *ast.Term {
	slot := &c.slots[maphash.Comparable(c.seed, key)&(uint64(len(c.slots))-1)]
	if e := slot.Load(); e != nil && e.key == key {
		return e.term
	}
	if s, ok := any(key).(string); ok {
		key = any(strings.Clone(s)).(K)
	}
	t := make(key)
	if t != nil {
		slot.Store(&cachedTerm[K]{key: key, term: t})
	}
	return t
}

var stringTerms = newTermCache[string]()

// stringTerm is a string term, shared when the string is short.
func stringTerm(s string) *ast.Term {
	if len(s) > maxCachedKey {
		return ast.StringTerm(s)
	}
	return stringTerms.get(s, func(s string) *ast.Term { return ast.StringTerm(s) }) // s is the kept copy
}
