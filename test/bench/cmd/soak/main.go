// Command soak is podguard's soak test (make soak): it sends a long run of reviews (1M by
// default) over the benchmark's mix of bodies, validate and mutate, to one podguard
// process, and samples its resident memory, goroutines and open file descriptors, and its
// live heap, all the way. After the warm-up (the first tenth of the reviews), each of them
// must stay within 10% of where the warm-up left it: a leak, a cache that grows without
// bound or connections that pile up show as a rising line. It exits 1 when one does, or
// when any review fails.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/podguard/podguard/test/bench/load"
)

type sample struct {
	at         time.Duration
	reviews    int64
	rss        int64
	heap       float64 // go_gc_heap_live_bytes: live after the last GC
	goroutines float64
	fds        int
}

func main() {
	podguardBin, bodiesDir := load.Flags()
	var (
		reviews   = flag.Int("reviews", 1_000_000, "reviews to send")
		conc      = flag.Int("concurrency", 8, "concurrent callers")
		interval  = flag.Duration("sample-every", 2*time.Second, "sampling interval")
		tolerance = flag.Float64("tolerance", 0.10, "allowed growth over the warm-up level")
		workDir   = flag.String("work-dir", "", "directory for certificates, logs and the samples (default: a temporary one)")
		judge     = flag.String("judge", "", "judge the samples.tsv of an earlier run instead of running")
	)
	flag.Parse()
	load.Main("soak", func(ctx context.Context) (bool, error) {
		if *judge != "" {
			samples, err := readSamples(*judge)
			if err != nil {
				return false, err
			}
			return report(samples, samples[len(samples)-1].reviews, *tolerance), nil
		}
		return run(ctx, *podguardBin, *bodiesDir, *reviews, *conc, *interval, *tolerance, *workDir)
	})
}

// mix is the share of each kind of review, as a cluster sends them: mostly compliant
// Pods and workloads, some refused, a few large; every Pod create also goes to /mutate.
var mix = []struct {
	file, path string
	allowed    bool
	weight     int
}{
	{"pod-compliant.json", "/validate", true, 35},
	{"pod-violating.json", "/validate", false, 15},
	{"deployment.json", "/validate", true, 25},
	{"pod-100k.json", "/validate", true, 5},
	{"pod-needs-defaults.json", "/mutate", true, 20},
}

func run(ctx context.Context, bin, bodiesDir string, total, conc int, interval time.Duration, tolerance float64, dir string) (bool, error) {
	dir, remove, err := load.WorkDir(dir, "podguard-soak-")
	if err != nil {
		return false, err
	}
	defer remove()
	srv, err := load.StartPodguard(load.PodguardOptions{Bin: bin, Dir: dir})
	if err != nil {
		return false, err
	}
	defer srv.Stop()
	base, caPEM, metricsURL := srv.Base, srv.CAPEM, srv.MetricsURL

	type target struct {
		client *load.Client
		body   *load.Body
		weight int
	}
	var targets []target
	clients := map[string]*load.Client{}
	for _, m := range mix {
		data, err := os.ReadFile(filepath.Join(bodiesDir, m.file))
		if err != nil {
			return false, err
		}
		c := clients[m.path]
		if c == nil {
			if c, err = load.NewClient(base+m.path, caPEM, conc); err != nil {
				return false, err
			}
			clients[m.path] = c
		}
		allowed := m.allowed
		targets = append(targets, target{c, &load.Body{Name: m.file + " " + m.path, Data: data, Allowed: &allowed}, m.weight})
	}
	if err := srv.WaitReady(ctx, targets[0].client, targets[0].body, 2*time.Minute); err != nil {
		return false, err
	}
	sum := 0
	for _, t := range targets {
		sum += t.weight
	}
	// Each worker draws from its own generator, so runs are repeatable.
	pick := func(rng *rand.Rand) target {
		n := rng.IntN(sum)
		for _, t := range targets {
			if n < t.weight {
				return t
			}
			n -= t.weight
		}
		return targets[len(targets)-1]
	}

	fmt.Printf("soak: %d reviews at concurrency %d over %d kinds of review; podguard pid %d\n", total, conc, len(targets), srv.Pid())
	start := time.Now()
	var (
		issued, answered, errs atomic.Int64
		mu                     sync.Mutex
		samples                []sample
		firstErr               string
	)
	take := func() sample {
		s := sample{at: time.Since(start), reviews: answered.Load()}
		s.rss, _ = load.ProcStatus(srv.Pid(), "VmRSS")
		s.fds, _ = load.OpenFDs(srv.Pid())
		s.heap, s.goroutines = scrape(metricsURL)
		return s
	}
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			s := take()
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()

	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			var buf bytes.Buffer
			for ctx.Err() == nil && issued.Add(1) <= int64(total) {
				t := pick(rng)
				err := t.client.Do(ctx, t.body, &buf)
				n := answered.Add(1)
				if err != nil && ctx.Err() == nil {
					if errs.Add(1) == 1 {
						mu.Lock()
						firstErr = t.body.Name + ": " + err.Error()
						mu.Unlock()
					}
				}
				if n%100000 == 0 {
					fmt.Printf("  %7d reviews, %s, %d errors\n", n, time.Since(start).Round(time.Second), errs.Load())
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(done)
	<-sampled
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	// One more sample once the load has stopped, so the end state is in the record.
	time.Sleep(interval)
	samples = append(samples, take())

	if err := writeSamples(filepath.Join(dir, "samples.tsv"), samples); err != nil {
		return false, err
	}
	n := answered.Load()
	fmt.Printf("soak: %d reviews in %s (%.0f/s), %d errors%s\n", n, elapsed.Round(time.Second), float64(n)/elapsed.Seconds(), errs.Load(), firstErrSuffix(firstErr))
	return report(samples, int64(total), tolerance) && errs.Load() == 0, nil
}

func firstErrSuffix(s string) string {
	if s == "" {
		return ""
	}
	return " (first: " + s + ")"
}

// scrape reads the live heap (as the last GC marked it) and the goroutines from /metrics.
func scrape(url string) (heap, goroutines float64) {
	resp, err := http.Get(url)
	if err != nil {
		return -1, -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "go_gc_heap_live_bytes":
			heap = v
		case "go_goroutines":
			goroutines = v
		}
	}
	return heap, goroutines
}

func writeSamples(path string, samples []sample) error {
	var b strings.Builder
	b.WriteString("seconds\treviews\trss_bytes\theap_live_bytes\tgoroutines\topen_fds\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "%.0f\t%d\t%d\t%.0f\t%.0f\t%d\n", s.at.Seconds(), s.reviews, s.rss, s.heap, s.goroutines, s.fds)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// report compares each measure after the warm-up with the level the warm-up left it at.
// The level of a stretch (a tenth of the reviews) is the median of its samples: a leak, a
// cache that keeps growing or connections that pile up raise it, while the peaks that
// come and go with garbage collection and with several large Pods in flight at once do
// not. The first stretch after the warm-up is the reference; each later one must stay
// within the tolerance of it. The highest sample is shown too.
func report(samples []sample, total int64, tolerance float64) bool {
	warm := total / 10
	stretch := func(from, to int64) []sample {
		var out []sample
		for _, s := range samples {
			if s.reviews > from && s.reviews <= to {
				out = append(out, s)
			}
		}
		return out
	}
	if len(stretch(warm, total)) < 8 {
		fmt.Println("soak: too few samples to judge; run longer")
		return false
	}
	ok := true
	type measure struct {
		name string
		get  func(sample) float64
		unit func(float64) string
	}
	mib := func(v float64) string { return fmt.Sprintf("%.1f MiB", v/(1<<20)) }
	num := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	fmt.Printf("  %-12s %-12s %-28s %s\n", "", "reference", "later stretches (level)", "highest sample")
	for _, m := range []measure{
		{"RSS", func(s sample) float64 { return float64(s.rss) }, mib},
		{"live heap", func(s sample) float64 { return s.heap }, mib},
		{"goroutines", func(s sample) float64 { return s.goroutines }, num},
		{"open fds", func(s sample) float64 { return float64(s.fds) }, num},
	} {
		ref := median(stretch(warm, 2*warm), m.get)
		lo, hi := ref, ref
		for from := 2 * warm; from < total; from += warm {
			if ss := stretch(from, from+warm); len(ss) > 0 {
				v := median(ss, m.get)
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		growth := 0.0
		if ref > 0 {
			growth = hi/ref - 1
		}
		verdict := "OK"
		if growth > tolerance {
			verdict, ok = "GREW", false
		}
		highest := 0.0
		for _, s := range stretch(warm, total+1) {
			highest = max(highest, m.get(s))
		}
		fmt.Printf("  %-12s %-12s %-28s %-12s %s\n", m.name, m.unit(ref),
			fmt.Sprintf("%s to %s (%+.1f%%)", m.unit(lo), m.unit(hi), 100*growth), m.unit(highest), verdict)
	}
	return ok
}

func median(ss []sample, get func(sample) float64) float64 {
	if len(ss) == 0 {
		return 0
	}
	vs := make([]float64, len(ss))
	for i, s := range ss {
		vs[i] = get(s)
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}

func readSamples(path string) ([]sample, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []sample
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, "\t")
		if i == 0 || len(f) != 6 {
			continue
		}
		var s sample
		secs, _ := strconv.ParseFloat(f[0], 64)
		s.at = time.Duration(secs * float64(time.Second))
		s.reviews, _ = strconv.ParseInt(f[1], 10, 64)
		s.rss, _ = strconv.ParseInt(f[2], 10, 64)
		s.heap, _ = strconv.ParseFloat(f[3], 64)
		s.goroutines, _ = strconv.ParseFloat(f[4], 64)
		s.fds, _ = strconv.Atoi(f[5])
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no samples", path)
	}
	return out, nil
}
