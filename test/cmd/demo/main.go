// Command demo shows podguard at work in a real (local, throw-away) API server: it starts
// etcd, kube-apiserver and podguard, registers podguard like the chart does, applies the
// manifests in test/samples and prints what the cluster did with each. It leaves nothing
// running. Run it with `make demo`.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/test/harness"
)

const namespace = "demo"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	samples := "samples"
	if len(os.Args) > 1 {
		samples = os.Args[1]
	}
	fmt.Println("Starting etcd and kube-apiserver (built once, cached) ...")
	c, err := harness.StartEnv(ctx, "podguard-demo-", os.Stdout)
	if err != nil {
		return err
	}
	defer c.Close()
	pg, err := harness.Start(ctx, harness.Options{Dir: filepath.Join(c.Dir, "podguard"), Kubeconfig: c.Kubeconfig})
	if err != nil {
		return err
	}
	defer pg.Stop()
	fmt.Printf("podguard serving at %s, registered as validating and mutating webhook\n\n", pg.URL)
	for _, ns := range []string{namespace, harness.Namespace} {
		if _, err := c.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	v, m := harness.Webhooks(pg.URL, pg.CABundle, admissionregistrationv1.Fail)
	probe := func(ctx context.Context) error {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "probe"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "p", Image: "p:latest"}}}}
		_, err := c.Clientset.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil {
			return errors.New("not called yet")
		}
		return nil
	}
	if err := harness.Register(ctx, c.Clientset, v, m, probe); err != nil {
		return err
	}

	files, err := filepath.Glob(filepath.Join(samples, "*.yaml"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		if err := apply(ctx, c.Client, f); err != nil {
			return err
		}
	}
	fmt.Println("Done; stopping podguard, kube-apiserver and etcd.")
	return nil
}

// apply creates the manifest in the demo namespace and tells what happened to it.
func apply(ctx context.Context, cl client.Client, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var obj unstructured.Unstructured
	if err := yaml.Unmarshal(b, &obj.Object); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	obj.SetNamespace(namespace)
	title := fmt.Sprintf("%s %s (%s)", obj.GetKind(), obj.GetName(), filepath.Base(file))
	fmt.Println(strings.Repeat("-", len(title)))
	fmt.Println(title)
	err = cl.Create(ctx, &obj)
	var se apierrors.APIStatus
	switch {
	case errors.As(err, &se):
		fmt.Printf("REFUSED (HTTP %d):\n", se.Status().Code)
		msg := strings.TrimPrefix(se.Status().Message, `admission webhook "validate.podguard.io" denied the request: `)
		for _, line := range strings.Split(msg, "\n") {
			fmt.Println("  " + line)
		}
	case err != nil:
		return err
	default:
		added := obj.GetAnnotations()["podguard.io/defaults"]
		if added == "" {
			fmt.Println("ADMITTED unchanged")
			break
		}
		fmt.Println("ADMITTED with defaults filled in by podguard's patch:")
		for _, a := range strings.Split(added, ",") {
			fmt.Println("  add " + fieldOf(obj, a))
		}
		fmt.Println("  annotation podguard.io/defaults: " + added)
	}
	fmt.Println()
	return nil
}

// fieldOf turns an annotation entry ("app:requests.cpu=100m") into the field it set
// ("spec.containers[0].resources.requests.cpu: 100m").
func fieldOf(obj unstructured.Unstructured, entry string) string {
	name, rest, _ := strings.Cut(entry, ":")
	setting, value, _ := strings.Cut(rest, "=")
	for _, list := range []string{"containers", "initContainers"} {
		cs, _, _ := unstructured.NestedSlice(obj.Object, "spec", list)
		for i, c := range cs {
			if m, _ := c.(map[string]any); m["name"] == name {
				return fmt.Sprintf("spec.%s[%d].resources.%s: %s", list, i, setting, value)
			}
		}
	}
	return entry
}
