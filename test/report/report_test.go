package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/podguard/podguard/test/cluster"
	"github.com/podguard/podguard/test/harness"
)

// crdFile is the Report CRD of the reports-api module the main module builds with.
func crdFile(t *testing.T) string {
	cmd := exec.Command("go", "list", "-m", "-json", "github.com/openreports/reports-api")
	cmd.Dir = "../.." // the main module, which requires it
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m github.com/openreports/reports-api: %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("reports-api module directory unknown (%v): %s", err, out)
	}
	return filepath.Join(mod.Dir, "config", "crd", "openreports.io_reports.yaml")
}

// decode reads a YAML stream into objects.
func decode(t *testing.T, data []byte) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("decode: %v\n%s", err, data)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// TestReportsAccepted: the Reports eval writes for the repository fixture are created,
// with strict server-side field validation, once the OpenReports CRD is applied.
func TestReportsAccepted(t *testing.T) {
	bin, err := harness.Binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "eval", "-o", "report", "../fixtures/eval/repo", "--exclude", "vendor/")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("eval -o report: exit %d, want 1\n%s", code, stderr.String())
	}
	reports := decode(t, stdout.Bytes())
	want := map[string]map[string]int64{ // namespace -> summary
		"prod": {"pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0},
		"shop": {"pass": 2, "fail": 1, "warn": 0, "error": 0, "skip": 0},
	}
	if len(reports) != len(want) {
		t.Fatalf("%d reports, want one per namespace %v:\n%s", len(reports), want, stdout.String())
	}

	c := cluster.Start(t)
	ctx := t.Context()
	crd := decode(t, mustRead(t, crdFile(t)))
	if len(crd) != 1 || crd[0].GetKind() != "CustomResourceDefinition" {
		t.Fatalf("want one CRD in %s", crdFile(t))
	}
	if err := c.Client.Create(ctx, crd[0]); err != nil {
		t.Fatalf("create CRD: %v", err)
	}
	strict := &client.CreateOptions{Raw: &metav1.CreateOptions{FieldValidation: "Strict"}}
	for _, r := range reports {
		ns := r.GetNamespace()
		if _, ok := want[ns]; !ok || r.GetAPIVersion() != "openreports.io/v1alpha1" || r.GetKind() != "Report" {
			t.Fatalf("unexpected report %s %s/%s", r.GetAPIVersion(), ns, r.GetName())
		}
		if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		// The CRD is served once it is established: retry until then, fail on anything else.
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			err := c.Client.Create(ctx, r.DeepCopy(), strict)
			if err != nil && isNotServed(err) {
				return false, nil
			}
			return true, err
		})
		if err != nil {
			t.Fatalf("create Report in %s: %v", ns, err)
		}
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(r.GroupVersionKind())
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: r.GetName()}, got); err != nil {
			t.Fatal(err)
		}
		summary, _, _ := unstructured.NestedMap(got.Object, "summary")
		for k, v := range want[ns] {
			if n, _ := summary[k].(int64); n != v {
				t.Errorf("report in %s: summary.%s = %v, want %d (%v)", ns, k, summary[k], v, summary)
			}
		}
		results, _, _ := unstructured.NestedSlice(got.Object, "results")
		if len(results) == 0 {
			t.Errorf("report in %s stored without results", ns)
		}
	}
}

// isNotServed reports whether the error says the Report kind is not served yet.
func isNotServed(err error) bool {
	return meta.IsNoMatchError(err) || apierrors.IsNotFound(err)
}

func mustRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
