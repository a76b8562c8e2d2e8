package cluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A broken build must come back as an error carrying go build's output, so
// Start can fail the test with it.
func TestEnsureBinaryBuildFailure(t *testing.T) {
	dir := t.TempDir()
	broken := func(_ context.Context, moddir, _ string) ([]string, error) {
		return []string{"podguard.invalid/nosuchpkg"}, os.WriteFile(filepath.Join(moddir, "go.mod"), []byte("module x\n\ngo 1.26.0\n"), 0o644)
	}
	_, err := ensureBinary(t.Context(), t.Logf, dir, "broken", "v0.0.1", broken)
	if err == nil || !strings.Contains(err.Error(), "go build broken v0.0.1 failed") || !strings.Contains(err.Error(), "nosuchpkg") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "broken-v0.0.1")); err == nil {
		t.Error("failed build left a binary behind")
	}
}

// A cached binary is used as is: the second run must not rebuild.
func TestEnsureBinaryCached(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tool-v1.0.0")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustNotBuild := func(context.Context, string, string) ([]string, error) {
		t.Fatal("build called for a cached binary")
		return nil, nil
	}
	got, err := ensureBinary(t.Context(), t.Logf, dir, "tool", "v1.0.0", mustNotBuild)
	if err != nil || got != path {
		t.Fatalf("got %q, %v", got, err)
	}
}
