// Command bench is podguard's load benchmark (make bench). It starts podguard, a no-op
// AdmissionReview handler behind the same controller-runtime TLS server (the physical
// limit), and the OPA server answering AdmissionReviews with an equivalent policy (what
// users would run instead); then it posts every request body at every concurrency to each
// of them in turn, and prints throughput, latency, errors, peak RSS, the ratios against
// both baselines and whether the targets are met.
//
// The three servers run side by side and take turns per (body, concurrency), so a change
// in the machine's background load hits all of them alike.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/podguard/podguard/test/bench/load"
	"github.com/podguard/podguard/test/harness"
)

func main() {
	var (
		podguardBin = flag.String("podguard", "bin/podguard", "podguard binary")
		opaBin      = flag.String("opa", "bin/opa", "OPA binary")
		noopBin     = flag.String("noop", "bin/bench-noop", "no-op webhook binary")
		bodiesDir   = flag.String("bodies", "test/bench/bodies", "directory of the request bodies")
		opaPolicy   = flag.String("opa-policy", "test/bench/opa/policy.rego", "the OPA baseline's policy")
		duration    = flag.Duration("duration", 5*time.Second, "measured time per run")
		warmup      = flag.Duration("warmup", time.Second, "unmeasured time before each run")
		concList    = flag.String("concurrency", "1,8,64", "concurrency levels")
		only        = flag.String("servers", "noop,opa,podguard", "servers to run")
		bodyList    = flag.String("bodies-list", "", "bodies to run (default: all of the standard set)")
		workDir     = flag.String("work-dir", "", "directory for certificates and server logs (default: a temporary one)")
		podguardEnv = flag.String("podguard-env", "", "extra environment of podguard, comma-separated KEY=value (e.g. GOGC=200)")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, config{
		podguard: *podguardBin, opa: *opaBin, noop: *noopBin, bodies: *bodiesDir, opaPolicy: *opaPolicy,
		duration: *duration, warmup: *warmup, conc: *concList, servers: *only, bodyList: *bodyList, workDir: *workDir, podguardEnv: *podguardEnv,
	}, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type config struct {
	podguard, opa, noop, bodies, opaPolicy string
	duration, warmup                       time.Duration
	conc, servers, bodyList, workDir       string
	podguardEnv                            string
}

// standardBodies are the request bodies of the benchmark and the verdict each must get.
var standardBodies = []struct {
	file    string
	name    string
	allowed bool
}{
	{"pod-compliant.json", "compliant Pod", true},
	{"pod-violating.json", "violating Pod", false},
	{"pod-100k.json", "100 KB Pod", true},
	{"deployment.json", "Deployment", true},
}

type row struct {
	body, server string
	conc         int
	res          load.Result
	// rss is the peak RSS during the run, anon its peak anonymous part.
	rss, anon int64
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	var concs []int
	for _, s := range strings.Split(cfg.conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("bad concurrency %q", s)
		}
		concs = append(concs, n)
	}
	want := map[string]bool{}
	for _, s := range strings.Split(cfg.bodyList, ",") {
		if s != "" {
			want[s] = true
		}
	}
	var bodies []*load.Body
	for _, b := range standardBodies {
		if len(want) > 0 && !want[b.file] && !want[strings.TrimSuffix(b.file, ".json")] {
			continue
		}
		data, err := os.ReadFile(filepath.Join(cfg.bodies, b.file))
		if err != nil {
			return err
		}
		bodies = append(bodies, &load.Body{Name: fmt.Sprintf("%s (%.1f KiB)", b.name, float64(len(data))/1024), Data: data, Allowed: &b.allowed})
	}
	dir, remove, err := load.WorkDir(cfg.workDir, "podguard-bench-")
	if err != nil {
		return err
	}
	defer remove()
	caPEM, err := harness.WriteServingCert(filepath.Join(dir, "certs"))
	if err != nil {
		return err
	}
	servers, err := startServers(ctx, cfg, dir, caPEM, bodies[0])
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range servers {
			if err := s.srv.Stop(); err != nil {
				fmt.Fprintf(os.Stderr, "stopping %s: %v\n", s.srv.Name, err)
			}
		}
	}()

	fmt.Fprintf(out, "podguard load benchmark: %d CPU cores (GOMAXPROCS %d), shared by the servers and the load generator\n", runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(out, "each run: %s warm-up, then %s measured; keep-alive HTTP/1.1 over TLS; POST /validate (OPA: POST /)\n\n", cfg.warmup, cfg.duration)
	var rows []row
	// Every body at one concurrency before the next: memory a server keeps after the
	// 64 callers of a 100 KB Pod would otherwise count in the next body's c=8 run.
	for _, c := range concs {
		for _, b := range bodies {
			for _, s := range servers {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				client, err := load.NewClient(s.srv.URL, caPEM, c)
				if err != nil {
					return err
				}
				body := b
				if s.srv.Name == "noop" {
					body = &load.Body{Name: b.Name, Data: b.Data} // it allows everything
				}
				sampler := load.SampleRSS(s.srv.Pid(), 50*time.Millisecond)
				res := load.Run(ctx, client, load.Options{Concurrency: c, Warmup: cfg.warmup, Duration: cfg.duration, Bodies: []*load.Body{body}})
				rss := sampler.Stop()
				client.Close()
				r := row{body: b.Name, server: s.srv.Name, conc: c, res: res, rss: rss, anon: sampler.PeakAnon()}
				rows = append(rows, r)
				fmt.Fprintf(os.Stderr, "%-24s c=%-3d %-9s %8.0f/s p99 %-8s errors %d %s\n", b.Name, c, s.srv.Name, res.Throughput(), ms(res.Quantile(0.99)), res.Errors, res.FirstError)
			}
		}
	}
	peak := map[string]int64{}
	for _, s := range servers {
		pid := s.srv.Pid()
		peak[s.srv.Name], _ = load.ProcStatus(pid, "VmHWM")
		anon, _ := load.ProcStatus(pid, "RssAnon")
		file, _ := load.ProcStatus(pid, "RssFile")
		mem[s.srv.Name] = fmt.Sprintf("at the end: %s anonymous (heap, stacks) + %s file-backed (the binary's pages)", mib(anon), mib(file))
	}
	report(out, rows, peak)
	return nil
}

// mem describes each server's resident memory at the end of the run.
var mem = map[string]string{}

type started struct {
	srv *load.Server
}

func startServers(ctx context.Context, cfg config, dir string, caPEM []byte, probe *load.Body) ([]started, error) {
	ports, err := harness.FreePorts(5)
	if err != nil {
		return nil, err
	}
	certs := filepath.Join(dir, "certs")
	var out []started
	for _, name := range strings.Split(cfg.servers, ",") {
		var s *load.Server
		var err error
		switch name {
		case "noop":
			s, err = load.Start("noop", fmt.Sprintf("https://127.0.0.1:%d/validate", ports[0]), dir,
				cfg.noop, "--cert-dir", certs, "--port", strconv.Itoa(ports[0]))
		case "opa":
			s, err = load.Start("opa", fmt.Sprintf("https://127.0.0.1:%d/", ports[1]), dir,
				cfg.opa, "run", "--server", "--addr", fmt.Sprintf("127.0.0.1:%d", ports[1]),
				"--tls-cert-file", filepath.Join(certs, "tls.crt"), "--tls-private-key-file", filepath.Join(certs, "tls.key"),
				"--log-level", "error", "--skip-version-check", cfg.opaPolicy)
		case "podguard":
			var env []string
			if cfg.podguardEnv != "" {
				env = strings.Split(cfg.podguardEnv, ",")
			}
			s, err = load.StartEnv("podguard", fmt.Sprintf("https://127.0.0.1:%d/validate", ports[2]), dir, env,
				cfg.podguard, "serve", "--cert-dir", certs, "--port", strconv.Itoa(ports[2]),
				"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[3]),
				"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[4]),
				"--watch-cluster=false", "--shutdown-delay", "0s")
		default:
			err = fmt.Errorf("unknown server %q", name)
		}
		if err != nil {
			return out, err
		}
		out = append(out, started{srv: s})
		c, err := load.NewClient(s.URL, caPEM, 1)
		if err != nil {
			return out, err
		}
		probeBody := probe
		if name == "noop" {
			probeBody = &load.Body{Data: probe.Data}
		}
		err = s.WaitReady(ctx, c, probeBody, 2*time.Minute)
		c.Close()
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
}

func mib(b int64) string {
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + "MiB"
}

func report(out io.Writer, rows []row, peak map[string]int64) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "body\tc\tserver\treviews/s\tp50\tp90\tp99\tmax\terrors\tpeak RSS\tanonymous\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.0f\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t\n", r.body, r.conc, r.server, r.res.Throughput(),
			ms(r.res.Quantile(0.5)), ms(r.res.Quantile(0.9)), ms(r.res.Quantile(0.99)), ms(r.res.Max()), r.res.Errors, mib(r.rss), mib(r.anon))
	}
	tw.Flush()

	find := func(body, server string, c int) *row {
		for i := range rows {
			if rows[i].body == body && rows[i].server == server && rows[i].conc == c {
				return &rows[i]
			}
		}
		return nil
	}
	fmt.Fprintln(out, "\nratios of podguard's throughput (p99 in brackets)")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "body\tc\tvs no-op\tvs OPA\t")
	var seen []string
	for _, r := range rows {
		if r.server != "podguard" {
			continue
		}
		key := r.body + "/" + strconv.Itoa(r.conc)
		if contains(seen, key) {
			continue
		}
		seen = append(seen, key)
		ratio := func(base string) string {
			b := find(r.body, base, r.conc)
			if b == nil || b.res.Throughput() == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2fx (%s vs %s)", r.res.Throughput()/b.res.Throughput(), ms(r.res.Quantile(0.99)), ms(b.res.Quantile(0.99)))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t\n", r.body, r.conc, ratio("noop"), ratio("opa"))
	}
	tw.Flush()

	fmt.Fprintln(out, "\npeak RSS over the whole run (VmHWM):")
	for _, name := range []string{"noop", "opa", "podguard"} {
		if v, ok := peak[name]; ok {
			fmt.Fprintf(out, "  %-9s %-9s %s\n", name, mib(v), mem[name])
		}
	}

	fmt.Fprintln(out, "\ntargets at c=8:")
	check := func(ok bool, format string, args ...any) {
		mark := "MET   "
		if !ok {
			mark = "MISSED"
		}
		fmt.Fprintf(out, "  %s "+format+"\n", append([]any{mark}, args...)...)
	}
	var maxRSS, maxAnon int64
	for _, r := range rows {
		if r.server != "podguard" || r.conc != 8 {
			continue
		}
		maxRSS, maxAnon = max(maxRSS, r.rss), max(maxAnon, r.anon)
		if o := find(r.body, "opa", 8); o != nil && o.res.Throughput() > 0 {
			x := r.res.Throughput() / o.res.Throughput()
			check(x >= targetVsOPA, "%-26s throughput >= %.1fx the OPA server's: %.2fx", r.body, targetVsOPA, x)
		}
		// The no-op is the physical limit; the 100 KB Pod is mostly TLS and decoding there.
		if n := find(r.body, "noop", 8); n != nil && n.res.Throughput() > 0 && !strings.HasPrefix(r.body, "100 KB Pod") {
			x := r.res.Throughput() / n.res.Throughput()
			check(x >= targetVsNoop, "%-26s throughput >= %.1fx the no-op's: %.2fx", r.body, targetVsNoop, x)
		}
		if r.res.Errors > 0 {
			check(false, "%-26s errors: %d (%s)", r.body, r.res.Errors, r.res.FirstError)
		}
	}
	if maxRSS > 0 {
		check(maxAnon <= targetAnon, "%-26s peak anonymous RSS <= %s during the c=8 runs: %s (RSS with the binary's pages: %s)", "podguard", mib(targetAnon), mib(maxAnon), mib(maxRSS))
	}
	if v, ok := peak["podguard"]; ok {
		fmt.Fprintf(out, "  (podguard's peak RSS over all runs, c=64 included: %s)\n", mib(v))
	}
}

// The targets at 8 concurrent callers: podguard's throughput against the OPA server's (on
// every body) and the no-op's (on every body but the 100 KB Pod), and its peak anonymous
// RSS: heap, stacks and runtime, what load makes grow. The rest of RSS is the binary's
// own pages, clean page cache that the kernel reclaims under pressure, whose size
// depends on the binary (Helm's renderer, linked for eval, makes it about 10 MiB
// larger) and on how much the kernel maps around each page touched.
const (
	targetVsOPA  = 1.5
	targetVsNoop = 0.5
	targetAnon   = 36 << 20
)

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
