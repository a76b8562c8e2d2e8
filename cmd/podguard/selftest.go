package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/podguard/podguard/policies/selftest"
)

const selftestUsage = `usage: podguard selftest --namespace NS [--kubeconfig FILE] [--config FILE] [--policy-dir DIR]
                         [--image REF] [--webhook NAME] [--wait DURATION]`

// selftestCommand runs `podguard selftest` and returns the exit code.
func selftestCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("podguard selftest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, selftestUsage); fs.PrintDefaults() }
	var o selftest.Options
	var kubeconfig string
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	fs.StringVar(&o.Namespace, "namespace", "", "namespace podguard guards, where the two Pods are dry-run (required)")
	fs.StringVar(&o.Engine.ConfigFile, "config", "", "podguard's configuration file, as the webhook reads it (default: the embedded defaults)")
	fs.StringVar(&o.Engine.PolicyDir, "policy-dir", "", "directory of custom Rego rules, as the webhook reads it")
	fs.StringVar(&o.Image, "image", selftest.DefaultImage, "image of the compliant Pod; the violating one may use its repository with a disallowed tag")
	fs.StringVar(&o.Webhook, "webhook", "validate.podguard.io", "name of podguard's validating webhook")
	fs.DurationVar(&o.Wait, "wait", time.Minute, "how long to retry while the API server fails to call the webhook")
	if err := fs.Parse(args); err != nil {
		return selftest.ExitError
	}
	if fs.NArg() > 0 || o.Namespace == "" {
		fmt.Fprintln(stderr, selftestUsage)
		return selftest.ExitError
	}
	cfg, err := selftestRestConfig(kubeconfig)
	if err != nil {
		fmt.Fprintf(stderr, "podguard selftest: %v\n", err)
		return selftest.ExitError
	}
	return selftest.Run(ctx, cfg, o, stdout, stderr)
}

func selftestRestConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return config.GetConfig()
}
