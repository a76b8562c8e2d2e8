package engine

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// evalCache is the virtual document cache of one evaluation: the values of rules and
// function calls already evaluated (topdown.VirtualCache). OPA's own cache is a trie with a
// hash map at every level of every reference; it allocated about a fifth of everything an
// evaluation allocated. This one keeps the entries of a frame in a slice and finds them
// through a small open-addressing table of their hashes, and it is reused across
// evaluations (cachePool), so an evaluation normally allocates only the copies of the
// references it stores.
type evalCache struct {
	frames []cacheFrame
}

type cacheFrame struct {
	entries []cacheEntry
	// slots holds index+1 of an entry, at hash & (len(slots)-1) and the slots after it;
	// 0 is empty.
	slots []int32
}

type cacheEntry struct {
	hash      int
	ref       ast.Ref
	value     *ast.Term
	undefined bool
}

var _ topdown.VirtualCache = (*evalCache)(nil)

var cachePool = sync.Pool{New: func() any { return &evalCache{frames: make([]cacheFrame, 1, 2)} }}

func getCache() *evalCache { return cachePool.Get().(*evalCache) }

// putCache resets the cache and returns it to the pool. Values are dropped, so a pooled
// cache keeps no evaluation's data alive.
func putCache(c *evalCache) {
	for i := range c.frames {
		c.frames[i].reset()
	}
	c.frames = c.frames[:1]
	cachePool.Put(c)
}

func (f *cacheFrame) reset() {
	clear(f.entries)
	f.entries = f.entries[:0]
	clear(f.slots)
}

func (c *evalCache) top() *cacheFrame { return &c.frames[len(c.frames)-1] }

// Push starts a new, empty frame (topdown does this for `with`).
func (c *evalCache) Push() {
	if len(c.frames) < cap(c.frames) {
		c.frames = c.frames[:len(c.frames)+1]
		return
	}
	c.frames = append(c.frames, cacheFrame{})
}

// Pop drops the newest frame and everything in it.
func (c *evalCache) Pop() {
	c.top().reset()
	c.frames = c.frames[:len(c.frames)-1]
}

// find returns the index of ref's entry in the frame, or -1.
func (f *cacheFrame) find(ref ast.Ref, hash int) int {
	if len(f.slots) == 0 {
		return -1
	}
	mask := len(f.slots) - 1
	for i := hash & mask; ; i = (i + 1) & mask {
		s := f.slots[i]
		if s == 0 {
			return -1
		}
		if e := &f.entries[s-1]; e.hash == hash && e.ref.Equal(ref) {
			return int(s - 1)
		}
	}
}

// Get returns the cached value of ref; (nil, true) means ref is known to be undefined and
// (nil, false) that it is not cached.
func (c *evalCache) Get(ref ast.Ref) (*ast.Term, bool) {
	f := c.top()
	i := f.find(ref, ref.Hash())
	if i < 0 {
		return nil, false
	}
	e := &f.entries[i]
	if e.undefined {
		return nil, true
	}
	return e.value, false
}

// Put records the value of ref; a nil value records that ref is undefined.
func (c *evalCache) Put(ref ast.Ref, value *ast.Term) {
	f := c.top()
	hash := ref.Hash()
	if i := f.find(ref, hash); i >= 0 {
		e := &f.entries[i]
		if value != nil {
			e.value = value
		} else {
			e.undefined = true
		}
		return
	}
	// The caller may reuse the slice holding ref, so the entry keeps its own copy.
	f.entries = append(f.entries, cacheEntry{hash: hash, ref: append(ast.Ref(nil), ref...), value: value, undefined: value == nil})
	if 2*len(f.entries) > len(f.slots) {
		f.rehash()
		return
	}
	f.insert(hash, int32(len(f.entries)))
}

func (f *cacheFrame) insert(hash int, slot int32) {
	mask := len(f.slots) - 1
	i := hash & mask
	for f.slots[i] != 0 {
		i = (i + 1) & mask
	}
	f.slots[i] = slot
}

// rehash grows the table to keep it at most half full.
func (f *cacheFrame) rehash() {
	n := max(64, len(f.slots))
	for 2*len(f.entries) > n {
		n *= 2
	}
	if n != len(f.slots) {
		f.slots = make([]int32, n)
	} else {
		clear(f.slots)
	}
	for i := range f.entries {
		f.insert(f.entries[i].hash, int32(i+1))
	}
}

// Keys lists the references cached with a value in the newest frame.
func (c *evalCache) Keys() []ast.Ref {
	var keys []ast.Ref
	for _, e := range c.top().entries {
		if e.value != nil {
			keys = append(keys, e.ref)
		}
	}
	return keys
}
