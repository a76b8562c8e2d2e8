// Command memflood checks that large reviews cannot push podguard past its memory limit
// (make bench-memory). It runs the podguard binary with GOMEMLIMIT as the chart sets it
// (the container's memory limit), has 16 clients send 4.7 MB Pods of 300,000 labels
// back to back, and meanwhile sends a stream of ordinary reviews. It samples the
// process's resident memory from /proc and reports its peak (VmHWM, and the anonymous
// part, RssAnon) against the limit, and how the ordinary reviews were answered, with
// their latency against a baseline measured first, without the flood. It exits 1 when
// the peak reaches the limit or an ordinary review is not answered with its verdict.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/podguard/podguard/test/bench/load"
)

func main() {
	podguardBin, bodiesDir := load.Flags()
	var (
		limit    = flag.String("limit", "512Mi", "the container's memory limit, passed as GOMEMLIMIT as the chart does")
		clients  = flag.Int("clients", 16, "clients sending large Pods")
		labels   = flag.Int("labels", 300_000, "labels of each large Pod")
		hooks    = flag.String("hooks", "validate,mutate", "the paths the large Pods go to, in turn by client")
		duration = flag.Duration("duration", 30*time.Second, "how long the flood lasts")
		baseline = flag.Duration("baseline", 5*time.Second, "how long ordinary reviews are measured alone first")
		pause    = flag.Duration("good-every", 50*time.Millisecond, "the pause between two ordinary reviews")
		workDir  = flag.String("work-dir", "", "directory for certificates and the log (default: a temporary one)")
	)
	flag.Parse()
	load.Main("memflood", func(ctx context.Context) (bool, error) {
		q, err := resource.ParseQuantity(*limit)
		if err != nil {
			return false, fmt.Errorf("-limit: %w", err)
		}
		return run(ctx, config{
			bin: *podguardBin, bodies: *bodiesDir, limit: q.Value(), clients: *clients, labels: *labels,
			hooks: strings.Split(*hooks, ","), duration: *duration, baseline: *baseline, pause: *pause, dir: *workDir,
		})
	})
}

type config struct {
	bin, bodies, dir          string
	limit                     int64
	clients, labels           int
	hooks                     []string
	duration, baseline, pause time.Duration
}

func run(ctx context.Context, c config) (bool, error) {
	dir, remove, err := load.WorkDir(c.dir, "podguard-memflood-")
	if err != nil {
		return false, err
	}
	defer remove()
	srv, err := load.StartPodguard(load.PodguardOptions{Bin: c.bin, Dir: dir, Env: []string{"GOMEMLIMIT=" + strconv.FormatInt(c.limit, 10)}})
	if err != nil {
		return false, err
	}
	defer srv.Stop()
	base, caPEM := srv.Base, srv.CAPEM

	compliant, err := os.ReadFile(filepath.Join(c.bodies, "pod-compliant.json"))
	if err != nil {
		return false, err
	}
	needsDefaults, err := os.ReadFile(filepath.Join(c.bodies, "pod-needs-defaults.json"))
	if err != nil {
		return false, err
	}
	allowed := true
	good := []struct {
		client *load.Client
		body   *load.Body
	}{}
	for _, g := range []struct {
		path string
		data []byte
	}{{"/validate", compliant}, {"/mutate", needsDefaults}} {
		cl, err := load.NewClient(base+g.path, caPEM, 1)
		if err != nil {
			return false, err
		}
		defer cl.Close()
		good = append(good, struct {
			client *load.Client
			body   *load.Body
		}{cl, &load.Body{Name: g.path, Data: g.data, Allowed: &allowed}})
	}
	if err := srv.WaitReady(ctx, good[0].client, good[0].body, time.Minute); err != nil {
		return false, err
	}
	big, err := largePod(compliant, c.labels)
	if err != nil {
		return false, err
	}
	idle, _ := load.ProcStatus(srv.Pid(), "VmRSS")
	fmt.Printf("podguard with GOMEMLIMIT=%d (%s); idle RSS %s\n", c.limit, mib(c.limit), mib(idle))
	fmt.Printf("flood: %d clients, each sending a %.1f MB Pod with %d labels to %s, for %s\n",
		c.clients, float64(len(big))/1e6, c.labels, strings.Join(c.hooks, " and "), c.duration)

	// The baseline: ordinary reviews alone.
	bctx, cancel := context.WithTimeout(ctx, c.baseline)
	before := stream(bctx, good[0].client, good[0].body, good[1].client, good[1].body, c.pause)
	cancel()

	// The kernel keeps only the peak of the whole RSS (VmHWM); RssAnon's is sampled.
	rss := load.SampleRSS(srv.Pid(), 10*time.Millisecond)
	fctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	var wg sync.WaitGroup
	outcomes := make([]map[string]int, c.clients)
	for i := range c.clients {
		url := base + "/" + c.hooks[i%len(c.hooks)]
		wg.Go(func() { outcomes[i] = flood(fctx, url, caPEM, big) })
	}
	during := stream(fctx, good[0].client, good[0].body, good[1].client, good[1].body, c.pause)
	wg.Wait()
	rss.Stop()
	anonPeak := rss.PeakAnon()
	hwm, err := load.ProcStatus(srv.Pid(), "VmHWM")
	if err != nil {
		return false, err
	}
	if srv.Exited() {
		return false, fmt.Errorf("podguard exited during the flood:\n%s", srv.LogTail(3000))
	}

	total := map[string]int{}
	for _, o := range outcomes {
		for k, n := range o {
			total[k] += n
		}
	}
	fmt.Println("large Pods answered:")
	keys := make([]string, 0, len(total))
	for k := range total {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("  %6d  %s\n", total[k], k)
	}
	fmt.Printf("peak RSS (VmHWM)       %s of the %s limit (%.0f%%)\n", mib(hwm), mib(c.limit), 100*float64(hwm)/float64(c.limit))
	fmt.Printf("peak RssAnon (sampled) %s (%.0f%%)\n", mib(anonPeak), 100*float64(anonPeak)/float64(c.limit))
	fmt.Printf("ordinary reviews alone:      %s\n", before.Summary("answered"))
	fmt.Printf("ordinary reviews in a flood: %s\n", during.Summary("answered"))
	if p := before.Quantile(0.5); p > 0 {
		fmt.Printf("latency in the flood against alone: p50 %.1fx, p99 %.1fx\n",
			float64(during.Quantile(0.5))/float64(p), float64(during.Quantile(0.99))/float64(before.Quantile(0.99)))
	}
	ok := true
	if hwm >= c.limit {
		fmt.Println("FAIL: the peak RSS reached the memory limit")
		ok = false
	}
	if during.Failed > 0 || len(during.Times) == 0 {
		fmt.Printf("FAIL: %d of %d ordinary reviews were not answered with their verdict; first: %s\n", during.Failed, len(during.Times)+during.Failed, during.FirstError)
		ok = false
	}
	if ok {
		fmt.Println("PASS: under the limit, and every ordinary review answered")
	}
	return ok, nil
}

// largePod is the compliant Pod with n more labels, each of 15 or 16 bytes as JSON: as
// many as fit in the API server's 3 MiB request limit in its protobuf form.
func largePod(compliant []byte, n int) ([]byte, error) {
	const anchor = `"labels":{`
	i := bytes.Index(compliant, []byte(anchor))
	if i < 0 {
		return nil, fmt.Errorf("no labels in pod-compliant.json")
	}
	var b bytes.Buffer
	b.Grow(len(compliant) + 16*n)
	b.Write(compliant[:i+len(anchor)])
	for k := range n {
		fmt.Fprintf(&b, `"l%06d":"v%d",`, k, k%10+k%3*10)
	}
	b.Write(compliant[i+len(anchor):])
	return b.Bytes(), nil
}

var codeRE = regexp.MustCompile(`"code":(\d+)`)

// flood posts body to url back to back until ctx ends, and counts the answers by HTTP
// status and the review's code.
func flood(ctx context.Context, url string, caPEM, body []byte) map[string]int {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxConnsPerHost: 1, DisableCompression: true,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}}
	defer hc.CloseIdleConnections()
	out := map[string]int{}
	for ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			out["error: "+err.Error()]++
			return out
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				out["error: "+err.Error()]++
			}
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		key := fmt.Sprintf("HTTP %d", resp.StatusCode)
		if m := codeRE.FindSubmatch(b); m != nil {
			key += " code " + string(m[1])
		} else if bytes.Contains(b, []byte(`"allowed":true`)) {
			key += " allowed"
		}
		if i := bytes.Index(b, []byte(`"message":"`)); i >= 0 {
			msg := string(b[i+11:])
			if j := strings.IndexByte(msg, '"'); j >= 0 {
				msg = msg[:j]
			}
			key += ": " + digits.ReplaceAllString(msg[:min(len(msg), 160)], "N")
		}
		out[key]++
	}
	return out
}

var digits = regexp.MustCompile(`[0-9][0-9.]*`)

// stream sends ordinary reviews, validate and mutate in turn, one at a time with a pause
// between, until ctx ends.
func stream(ctx context.Context, vc *load.Client, vb *load.Body, mc *load.Client, mb *load.Body, pause time.Duration) load.Latencies {
	var r load.Latencies
	var buf bytes.Buffer
	for i := 0; ctx.Err() == nil; i++ {
		c, b := vc, vb
		if i%2 == 1 {
			c, b = mc, mb
		}
		start := time.Now()
		// A review's own deadline, not the flood's: one sent near the end is still answered.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := c.Do(rctx, b, &buf)
		cancel()
		if err != nil {
			r.Fail(err)
		} else {
			r.Times = append(r.Times, time.Since(start))
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
	}
	r.Sort()
	return r
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
