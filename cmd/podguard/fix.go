package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/podguard/podguard/policies/engine"
	"github.com/podguard/podguard/policies/offline"
)

// fix writes podguard's defaults into the files of the judged manifests (--fix), or
// prints the change as a unified diff (--dry-run). It reports whether it succeeded.
func fix(ctx context.Context, e *engine.Engine, manifests []offline.Manifest, results []offline.Result, dryRun bool, stdout, stderr io.Writer) bool {
	fixes, err := offline.Fix(ctx, e, manifests, results)
	if err != nil {
		fmt.Fprintf(stderr, "podguard eval: --fix: %v\n", err)
		return false
	}
	for _, f := range fixes {
		for _, why := range f.NotFixed {
			fmt.Fprintf(stderr, "podguard eval: --fix: %s\n", why)
		}
		if !f.Changed() {
			continue
		}
		if dryRun {
			if err := offline.WriteDiff(stdout, f.File, f.Old, f.New); err != nil {
				fmt.Fprintf(stderr, "podguard eval: %v\n", err)
				return false
			}
			continue
		}
		info, err := os.Stat(f.File)
		if err == nil {
			err = os.WriteFile(f.File, f.New, info.Mode().Perm())
		}
		if err != nil {
			fmt.Fprintf(stderr, "podguard eval: --fix: %v\n", err)
			return false
		}
		for _, a := range f.Added {
			fmt.Fprintf(stderr, "podguard eval: --fix: added %s\n", a)
		}
	}
	return true
}
