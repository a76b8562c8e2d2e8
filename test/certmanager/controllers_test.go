package certmanager

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	crapprover "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"
	"github.com/cert-manager/cert-manager/pkg/util"
	// Issuer implementations register themselves for the issuers controller.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// certManagerControllers are the controllers of cert-manager's controller binary that a
// self-signed Issuer, a CA Certificate, a CA Issuer and a serving Certificate go through;
// the ACME, Vault, Venafi and ingress-shim ones have nothing to do here.
var certManagerControllers = []string{
	issuers.ControllerName,        // Issuer Ready conditions
	trigger.ControllerName,        // Certificate needs issuing
	keymanager.ControllerName,     // next private key
	requestmanager.ControllerName, // CertificateRequest
	crapprover.ControllerName,     // approves requests for cert-manager.io issuers
	crselfsigned.CRControllerName, // signs the CA
	crca.CRControllerName,         // signs the serving certificate with the CA
	issuing.ControllerName,        // writes the Secret
	readiness.ControllerName,      // Certificate Ready condition
}

// runCertManager runs cert-manager's controllers against the cluster until ctx ends,
// the way its controller binary does: one context factory, the controllers built from
// it, then its shared informers started.
func runCertManager(t *testing.T, ctx context.Context, kubeconfig string) {
	t.Helper()
	factory, err := controllerpkg.NewContextFactory(ctx, controllerpkg.ContextOptions{
		Kubeconfig:         kubeconfig,
		KubernetesAPIQPS:   100,
		KubernetesAPIBurst: 200,
		IssuerOptions:      controllerpkg.IssuerOptions{ClusterResourceNamespace: "cert-manager"},
	})
	if err != nil {
		t.Fatalf("cert-manager context: %v", err)
	}
	for _, name := range certManagerControllers {
		build, ok := controllerpkg.Known()[name]
		if !ok {
			t.Fatalf("cert-manager controller %q is not registered", name)
		}
		c, err := build(factory)
		if err != nil {
			t.Fatalf("cert-manager controller %s: %v", name, err)
		}
		go func() {
			if err := c.Run(1, ctx); err != nil && ctx.Err() == nil {
				t.Errorf("cert-manager controller %s: %v", name, err)
			}
		}()
	}
	shared, err := factory.Build()
	if err != nil {
		t.Fatal(err)
	}
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
}

// runCAInjector runs cert-manager's cainjector for webhook configurations until ctx
// ends, configured like its binary: Secrets are read directly, not cached.
func runCAInjector(t *testing.T, ctx context.Context, cfg *rest.Config) {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, cmapi.AddToScheme, apiextensionsv1.AddToScheme, apiregistrationv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	ctrl.SetLogger(klog.NewKlogr())
	// The user agent names the field manager of the cainjector's apply patches.
	cfg = util.RestConfigWithUserAgent(cfg, "cainjector")
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Client:                 client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		EnableCertificatesDataSource: true,
		EnabledReconcilersFor: map[string]bool{
			cainjector.ValidatingWebhookConfigurationName: true,
			cainjector.MutatingWebhookConfigurationName:   true,
		},
	})
	if err != nil {
		t.Fatalf("cainjector: %v", err)
	}
	go func() {
		if err := mgr.Start(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("cainjector: %v", err)
		}
	}()
}
