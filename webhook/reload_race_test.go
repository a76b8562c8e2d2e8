package webhook

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReviewsDuringReloads runs reviews without pause while the configuration flips
// between two valid versions. Every answer must come whole from one set or the other:
// never an error, never an allow from a half-swapped set. Under `go test -race` (make
// test) it also shows the swap is free of data races.
func TestReviewsDuringReloads(t *testing.T) {
	config := filepath.Join(t.TempDir(), "config.yaml")
	write := func(enforcement string) {
		t.Helper()
		tmp := config + ".tmp"
		if err := os.WriteFile(tmp, []byte("rules:\n  liveness-probe: {enforcement: "+enforcement+"}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, config); err != nil {
			t.Fatal(err)
		}
	}
	write("deny")
	s := startServer(t, t.Context(), Options{ConfigFile: config, ReloadInterval: 20 * time.Millisecond})
	// A Pod missing only its liveness probe: denied under one set, warned under the other.
	review := readRequest(t, "custom-liveness-warn")

	var denied, warned atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var out struct {
					Response struct {
						Allowed  bool
						Warnings []string
						Status   struct {
							Code    int
							Message string
						}
					}
				}
				if err := json.Unmarshal(s.post(t, "/validate", review), &out); err != nil {
					errs <- err.Error()
					return
				}
				r := out.Response
				switch {
				case !r.Allowed && r.Status.Code == 403 && strings.HasPrefix(r.Status.Message, "[liveness-probe] "):
					denied.Add(1)
				case r.Allowed && len(r.Warnings) == 1 && strings.HasPrefix(r.Warnings[0], "[liveness-probe] "):
					warned.Add(1)
				default:
					errs <- fmt.Sprintf("answer from neither set: %+v", r)
					return
				}
			}
		}()
	}
	revision := func() string {
		_, body := get(t, s.health+"/readyz")
		return body
	}
	for i := range 20 {
		before := revision()
		if i%2 == 0 {
			write("warn")
		} else {
			write("deny")
		}
		waitUntil(t, 10*time.Second, fmt.Sprintf("reload %d served", i), func() bool { return revision() != before })
		// Reviews run on the new set before the next change.
		on := &warned
		if i%2 == 1 {
			on = &denied
		}
		seen := on.Load()
		waitUntil(t, 10*time.Second, fmt.Sprintf("a review judged by the set of reload %d", i), func() bool {
			return on.Load() > seen || len(errs) > 0
		})
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if denied.Load() == 0 || warned.Load() == 0 {
		t.Errorf("denied %d, warned %d: the reloads did not alternate the served set", denied.Load(), warned.Load())
	}
	t.Logf("%d reviews denied, %d warned across 20 reloads", denied.Load(), warned.Load())
}
