package engine_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/podguard/podguard/policies/engine"
)

// TestLoadSnapshotCompilesWhatWasRead: the Engine loaded from a snapshot serves the
// content the snapshot read, under the snapshot's revision, even when the files have
// changed since; Load and Fingerprint agree with it.
func TestLoadSnapshotCompilesWhatWasRead(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opts := engine.Options{ConfigFile: config}
	write("rules:\n  startup-probe: {enforcement: warn}\n")
	snap, err := engine.ReadSnapshot(opts)
	if err != nil {
		t.Fatal(err)
	}
	if fp, err := engine.Fingerprint(opts); err != nil || fp != snap.Revision() {
		t.Fatalf("Fingerprint = %q, %v; want the snapshot's revision %q", fp, err, snap.Revision())
	}
	if got := string(snap.Config()); got != "rules:\n  startup-probe: {enforcement: warn}\n" {
		t.Errorf("Config() = %q", got)
	}

	write("rules:\n  startup-probe: {enforcement: deny}\n")
	e, err := engine.LoadSnapshot(t.Context(), snap, opts)
	if err != nil {
		t.Fatal(err)
	}
	if e.Revision() != snap.Revision() {
		t.Errorf("revision %q, want the snapshot's %q", e.Revision(), snap.Revision())
	}
	if got := e.Config().Rules["startup-probe"]; got != "warn" {
		t.Errorf("startup-probe enforcement %q, want warn (the content read, not the file as it is now)", got)
	}
	if now := load(t, opts); now.Revision() == snap.Revision() || now.Config().Rules["startup-probe"] != "deny" {
		t.Errorf("Load after the change: revision %q, enforcement %q; want a new revision with deny", now.Revision(), now.Config().Rules["startup-probe"])
	}
}
