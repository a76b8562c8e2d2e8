// Command noop is the benchmark's baseline: an AdmissionReview handler that allows
// everything without looking at the object, behind the same controller-runtime TLS webhook
// server and TLS settings as podguard, served by controller-runtime's Webhook as it comes
// (which decodes each review twice). Whatever podguard spends above it is policy
// evaluation; podguard decodes a review once, in place, so it can spend less.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"os"
	"os/signal"
	"syscall"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func main() {
	certDir := flag.String("cert-dir", "", "directory with tls.crt and tls.key")
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 9443, "HTTPS port")
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.JSONEncoder()))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv := ctrlwebhook.NewServer(ctrlwebhook.Options{
		Host:    *host,
		Port:    *port,
		CertDir: *certDir,
		TLSOpts: []func(*tls.Config){func(c *tls.Config) {
			c.MinVersion = tls.VersionTLS12
			c.NextProtos = []string{"http/1.1"}
		}},
	})
	allow := admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("")
	})
	srv.Register("/validate", &admission.Webhook{Handler: allow})
	srv.Register("/mutate", &admission.Webhook{Handler: allow})
	if err := srv.Start(ctx); err != nil {
		ctrl.Log.Error(err, "noop webhook failed")
		os.Exit(1)
	}
}
