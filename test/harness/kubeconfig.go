package harness

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/podguard/podguard/test/cluster"
)

// WriteKubeconfig writes a kubeconfig file for cfg, so a podguard process can watch the
// same API server the test talks to.
func WriteKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	return clientcmd.WriteToFile(*kc, path)
}

// AdminKubeconfig writes a kubeconfig file of c's admin in a temporary directory of the
// test and returns its path.
func AdminKubeconfig(t testing.TB, c *cluster.Cluster) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "admin.kubeconfig")
	if err := WriteKubeconfig(c.RestConfig(), path); err != nil {
		t.Fatal(err)
	}
	return path
}

// ServiceAccountToken requests a token of the ServiceAccount namespace/name, valid for an
// hour.
func ServiceAccountToken(ctx context.Context, cs kubernetes.Interface, namespace, name string) (string, error) {
	exp := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return tr.Status.Token, nil
}

// WriteServiceAccountKubeconfig writes a kubeconfig file for the API server of admin that
// authenticates as the ServiceAccount namespace/name, as a Pod running under it does.
func WriteServiceAccountKubeconfig(ctx context.Context, admin *rest.Config, namespace, name, path string) error {
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return err
	}
	token, err := ServiceAccountToken(ctx, cs, namespace, name)
	if err != nil {
		return err
	}
	return WriteKubeconfig(&rest.Config{Host: admin.Host, TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData}, BearerToken: token}, path)
}

// TokenReviews is the number of TokenReview requests the API server has served, from its
// own metrics (apiserver_request_total): what checking callers' tokens costs it.
func TokenReviews(ctx context.Context, cs kubernetes.Interface) (float64, error) {
	b, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	var n float64
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="tokenreviews"`) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:]), 64)
		if err != nil {
			return 0, fmt.Errorf("API server metric %q: %w", line, err)
		}
		n += v
	}
	return n, nil
}
