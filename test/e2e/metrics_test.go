package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/podguard/podguard/test/chart"
	"github.com/podguard/podguard/test/harness"
)

// TestMetricsNeedAuthorisation: with --metrics-secure (the chart's default), podguard runs
// as the chart's ServiceAccount with the chart's ClusterRole, and asks the API server
// about every caller of /metrics: a token bound to the chart's metrics-reader ClusterRole
// gets the metrics, a valid token without that binding gets 403, no token gets 401, and a
// token the API server does not know is refused (controller-runtime's filter answers it
// with 500 "Authentication failed").
func TestMetricsNeedAuthorisation(t *testing.T) {
	ctx := t.Context()
	ns := namespace(t)
	// A release name of this test's, so its cluster-wide objects meet no others.
	const release = "podguard-metrics-test"
	rel, err := chart.Render(ctx, chart.Options{ReleaseName: release, Namespace: ns, Values: map[string]any{
		"metrics": map[string]any{"readers": []any{map[string]any{"kind": "ServiceAccount", "name": "prometheus"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The chart's identity and permissions only: podguard itself runs here as a process.
	var applied []string
	for _, o := range rel.Objects {
		switch o.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding":
			u := o.Unstructured.DeepCopy()
			if err := env.cluster.Client.Create(ctx, u); err != nil {
				t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
			}
			if o.GetNamespace() == "" {
				t.Cleanup(func() {
					_ = env.cluster.Client.Delete(t.Context(), u)
				})
			}
			applied = append(applied, o.GetKind()+"/"+o.GetName())
		}
	}
	t.Logf("applied %v", applied)
	for _, name := range []string{"prometheus", "nobody"} {
		if _, err := env.cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	token := func(sa string) string {
		t.Helper()
		exp := int64(3600)
		tr, err := env.cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}

	dir := t.TempDir()
	admin := env.cluster.RestConfig()
	kubeconfig := filepath.Join(dir, "podguard.kubeconfig")
	sa := &rest.Config{Host: admin.Host, TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData}, BearerToken: token(release)}
	if err := harness.WriteKubeconfig(sa, kubeconfig); err != nil {
		t.Fatal(err)
	}
	pg, err := harness.Start(ctx, harness.Options{Dir: dir, Kubeconfig: kubeconfig, Args: []string{"--metrics-secure"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	if !strings.HasPrefix(pg.MetricsURL, "https://") {
		t.Fatalf("metrics at %s, want HTTPS", pg.MetricsURL)
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pg.CABundle)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	scrape := func(bearer string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, pg.MetricsURL+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	prometheus, nobody := token("prometheus"), token("nobody")
	cases := map[string]struct {
		bearer string
		code   int
		body   string
	}{
		"a token bound to the metrics-reader ClusterRole": {prometheus, http.StatusOK, "# TYPE podguard_policy_reloads_total counter"},
		"a token without that binding":                    {nobody, http.StatusForbidden, fmt.Sprintf("Authorization denied for user system:serviceaccount:%s:nobody", ns)},
		"no token":                                        {"", http.StatusUnauthorized, "Unauthorized"},
		"a token the API server does not know":            {"not-a-token", http.StatusInternalServerError, "Authentication failed"},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			code, body := scrape(c.bearer)
			if code != c.code || !strings.Contains(body, c.body) {
				t.Errorf("GET /metrics: %d %.200q, want %d with %q", code, body, c.code, c.body)
			}
		})
	}
	if t.Failed() {
		b, _ := os.ReadFile(pg.Log)
		t.Logf("podguard log:\n%s", b)
	}
}
