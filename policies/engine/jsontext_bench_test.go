//go:build goexperiment.jsonv2

package engine

import (
	"bytes"
	"encoding/json/jsontext"
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// BenchmarkJSONReaders compares the scanner every JSON read of the engine goes through
// with jsontext, the tokenizer of encoding/json/v2, on the load benchmark's bodies
// (GOEXPERIMENT=jsonv2 go test -run '^$' -bench JSONReaders ./policies/engine/):
//   - skip: step over the whole review, checking its syntax (what the scanner does over
//     everything the rules do not read);
//   - walk: visit every member name and scalar, as reading an object into facts does.
func BenchmarkJSONReaders(b *testing.B) {
	for _, name := range []string{"pod-compliant.json", "pod-100k.json"} {
		body, err := os.ReadFile(filepath.Join("..", "..", "test", "bench", "bodies", name))
		if err != nil {
			b.Fatal(err)
		}
		text := unsafe.String(unsafe.SliceData(body), len(body))
		run := func(kind string, fn func() error) {
			b.Run(kind+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					if err := fn(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		run("skip/scanner", func() error {
			p := scanner{s: text}
			return p.skip()
		})
		dec := jsontext.NewDecoder(bytes.NewReader(nil))
		run("skip/jsontext", func() error {
			dec.Reset(bytes.NewReader(body))
			return dec.SkipValue()
		})
		run("walk/scanner", func() error {
			p := scanner{s: text}
			return walkScanner(&p)
		})
		run("walk/jsontext", func() error {
			dec.Reset(bytes.NewReader(body))
			for {
				tok, err := dec.ReadToken()
				if err != nil {
					return err
				}
				if tok.Kind() == '"' {
					_ = tok.String()
				}
				if dec.StackDepth() == 0 {
					return nil
				}
			}
		})
	}
}

func walkScanner(p *scanner) error {
	switch p.peek() {
	case '{':
		_, err := p.members(func(string) error { return walkScanner(p) })
		return err
	case '[':
		_, err := p.elements(func(int) error { return walkScanner(p) })
		return err
	case '"':
		_, err := p.str()
		return err
	}
	return p.skip()
}
