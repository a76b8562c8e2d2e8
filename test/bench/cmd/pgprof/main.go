// Command pgprof is `podguard serve` with net/http/pprof on the side, for profiling the
// webhook under the benchmark's load: bench -servers podguard -podguard bin/pgprof, then
// go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=10.
// It runs exactly what cmd/podguard's serve runs (webhook.Run, the same zap JSON logger).
package main

import (
	"context"
	"flag"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"syscall"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/podguard/podguard/webhook"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("pgprof", flag.ExitOnError)
	var o webhook.Options
	o.AddFlags(fs)
	pprofAddr := fs.String("pprof-addr", "127.0.0.1:6060", "address of /debug/pprof")
	zopts := zap.Options{}
	zopts.BindFlags(fs)
	_ = fs.Parse(args)
	go func() { _ = http.ListenAndServe(*pprofAddr, nil) }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := zap.New(zap.UseFlagOptions(&zopts), zap.JSONEncoder())
	ctrl.SetLogger(log)
	if err := webhook.Run(ctrl.LoggerInto(ctx, log), o); err != nil {
		log.Error(err, "serve failed")
		os.Exit(1)
	}
}
