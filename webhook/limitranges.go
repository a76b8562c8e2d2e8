package webhook

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// limitRangeCache keeps every LimitRange of the cluster in memory, from a watch, so a
// workload is judged with its namespace's defaults without a call to the API server.
type limitRangeCache struct {
	cache    cache.Cache
	informer cache.Informer
}

var errLimitRangesNotSynced = errors.New("the LimitRange cache has not synced yet")

// restConfig finds the cluster: --kubeconfig, then $KUBECONFIG, in-cluster, ~/.kube/config.
func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return config.GetConfig()
}

// startLimitRangeCache starts the watch; it runs until ctx ends. Only list and watch on
// limitranges are needed.
func startLimitRangeCache(ctx context.Context, cfg *rest.Config) (*limitRangeCache, error) {
	c, err := cache.New(cfg, cache.Options{})
	if err != nil {
		return nil, fmt.Errorf("LimitRange cache: %w", err)
	}
	inf, err := c.GetInformer(ctx, &corev1.LimitRange{}, cache.BlockUntilSynced(false))
	if err != nil {
		return nil, fmt.Errorf("LimitRange informer: %w", err)
	}
	go func() {
		if err := c.Start(ctx); err != nil {
			logf.FromContext(ctx).Error(err, "LimitRange cache stopped")
		}
	}()
	return &limitRangeCache{cache: c, informer: inf}, nil
}

// For lists a namespace's LimitRanges. Before the first full list it refuses to answer:
// judging without them could refuse a workload its LimitRange makes valid.
func (l *limitRangeCache) For(ctx context.Context, namespace string) ([]corev1.LimitRange, error) {
	if !l.informer.HasSynced() {
		return nil, errLimitRangesNotSynced
	}
	var list corev1.LimitRangeList
	if err := l.cache.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// ready is the readiness check: podguard is not ready until the cache has synced.
func (l *limitRangeCache) ready() error {
	if !l.informer.HasSynced() {
		return errLimitRangesNotSynced
	}
	return nil
}
