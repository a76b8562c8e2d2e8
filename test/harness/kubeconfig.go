package harness

import (
	"context"
	"path/filepath"
	"testing"

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
