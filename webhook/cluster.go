package webhook

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// clusterCache keeps the cluster's LimitRanges and Namespaces in memory, from a watch, so
// a review needs no call to the API server: a workload is judged with its namespace's
// LimitRange defaults, and namespace overrides can select namespaces by label.
type clusterCache struct {
	cache     cache.Cache
	informers []cache.Informer
}

var errNotSynced = errors.New("the LimitRange and Namespace cache has not synced yet")

// restConfig finds the cluster: --kubeconfig, then $KUBECONFIG, in-cluster, ~/.kube/config.
func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return config.GetConfig()
}

// startClusterCache starts the watches; they run until ctx ends. Only list and watch on
// limitranges and namespaces are needed.
func startClusterCache(ctx context.Context, cfg *rest.Config) (*clusterCache, error) {
	c, err := cache.New(cfg, cache.Options{})
	if err != nil {
		return nil, fmt.Errorf("cluster cache: %w", err)
	}
	cc := &clusterCache{cache: c}
	for _, obj := range []client.Object{&corev1.LimitRange{}, &corev1.Namespace{}} {
		inf, err := c.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if err != nil {
			return nil, fmt.Errorf("%T informer: %w", obj, err)
		}
		cc.informers = append(cc.informers, inf)
	}
	go func() {
		if err := c.Start(ctx); err != nil {
			logf.FromContext(ctx).Error(err, "cluster cache stopped")
		}
	}()
	return cc, nil
}

func (c *clusterCache) synced() bool {
	for _, inf := range c.informers {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

// For lists a namespace's LimitRanges. Before the first full list it refuses to answer:
// judging without them could refuse a workload its LimitRange makes valid.
func (c *clusterCache) For(ctx context.Context, namespace string) ([]corev1.LimitRange, error) {
	if !c.synced() {
		return nil, errNotSynced
	}
	var list corev1.LimitRangeList
	if err := c.cache.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// NamespaceLabels returns the labels of a namespace; an unknown namespace has none.
func (c *clusterCache) NamespaceLabels(ctx context.Context, namespace string) (map[string]string, error) {
	if !c.synced() {
		return nil, errNotSynced
	}
	var ns corev1.Namespace
	if err := c.cache.Get(ctx, client.ObjectKey{Name: namespace}, &ns); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return ns.Labels, nil
}

// ready is the readiness check: podguard is not ready until the cache has synced.
func (c *clusterCache) ready() error {
	if !c.synced() {
		return errNotSynced
	}
	return nil
}
