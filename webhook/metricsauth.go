package webhook

import (
	"container/list"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
)

// metricsAuth serves /metrics (with --metrics-secure) only to callers whose bearer token
// the API server authenticates (a TokenReview) and authorises for get on the non-resource
// URL /metrics (a SubjectAccessReview): no token or a token the API server does not
// accept is 401, a caller without the permission 403, and an API server that cannot be
// asked 503.
//
// It is podguard's own, on client-go, rather than controller-runtime's metrics filter:
// that filter links k8s.io/apiserver (and with it grpc, OpenTelemetry, CEL and
// component-base) into the binary, which made it about 60% larger and every replica's
// idle RSS about 15 MiB higher, whether --metrics-secure was on or not, against a target
// of 64 MiB at peak; and it answers a token the API server rejects with 500 and an error
// logged with a stack trace.
//
// Decisions are kept for a short time, per token, so that a scraper calling every 30 s
// does not cost two API calls each time: an allowed caller for a minute (a revoked token or
// a removed binding takes up to that long to lock it out), a refused one for ten seconds.
// The key is the token's SHA-256, so no token stays in memory. Refusals are kept apart from
// allowed callers, and both are bounded (the least recently used decision goes first): any
// number of made-up tokens costs bounded memory and cannot push the real scraper's decision
// out. Failed calls are not kept. The calls go through client-go's rate limiter for this
// client alone, so a flood of new tokens cannot starve the LimitRange and Namespace watches.
type metricsAuth struct {
	tokens  authenticationclient.TokenReviewInterface
	access  authorizationclient.SubjectAccessReviewInterface
	next    http.Handler
	log     logr.Logger
	now     func() time.Time
	allowed *decisionCache
	refused *decisionCache
}

const (
	metricsPath = "/metrics"
	// metricsReviewTimeout bounds both reviews of one caller, within Prometheus' default
	// scrape timeout of 10 s.
	metricsReviewTimeout = 5 * time.Second
	allowedTTL           = time.Minute
	refusedTTL           = 10 * time.Second
	decisionCacheSize    = 1024
)

func newMetricsAuth(cfg *rest.Config, next http.Handler, log logr.Logger) (*metricsAuth, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metrics authentication: %w", err)
	}
	return &metricsAuth{
		tokens:  cs.AuthenticationV1().TokenReviews(),
		access:  cs.AuthorizationV1().SubjectAccessReviews(),
		next:    next,
		log:     log,
		now:     time.Now,
		allowed: newDecisionCache(decisionCacheSize, allowedTTL),
		refused: newDecisionCache(decisionCacheSize, refusedTTL),
	}, nil
}

// decision is what the API server said about a token: http.StatusOK,
// http.StatusUnauthorized or http.StatusForbidden, and for the last two, the user it names.
type decision struct {
	code int
	user string
}

func (a *metricsAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		unauthorized(w, "Unauthorized: send a bearer token (Authorization: Bearer <token>)")
		return
	}
	d, err := a.decide(r.Context(), token)
	if err != nil {
		http.Error(w, "Service Unavailable: the API server could not be asked who the caller is", http.StatusServiceUnavailable)
		return
	}
	switch d.code {
	case http.StatusOK:
		a.next.ServeHTTP(w, r)
	case http.StatusUnauthorized:
		unauthorized(w, "Unauthorized: the API server does not accept the token")
	default:
		http.Error(w, fmt.Sprintf("Forbidden: user %q may not get %s (bind it to a ClusterRole that allows get on the non-resource URL %s)", d.user, metricsPath, metricsPath), http.StatusForbidden)
	}
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", "Bearer")
	http.Error(w, msg, http.StatusUnauthorized)
}

// bearerToken reads "Bearer <token>"; the scheme's case does not matter (RFC 9110).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

// decide answers from the cache, or asks the API server and keeps its answer.
func (a *metricsAuth) decide(ctx context.Context, token string) (decision, error) {
	key := sha256.Sum256([]byte(token))
	now := a.now()
	if d, ok := a.allowed.get(key, now); ok {
		return d, nil
	}
	if d, ok := a.refused.get(key, now); ok {
		return d, nil
	}
	// The reviews run to their end even if the caller leaves: the answer is kept.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), metricsReviewTimeout)
	defer cancel()
	d, reason, err := a.review(ctx, token)
	if err != nil {
		// Errors from the API server do not carry the token; it is cut out in case one does.
		a.log.Info("metrics caller not checked: answering 503", "error", strings.ReplaceAll(err.Error(), token, "[token]"))
		return decision{}, err
	}
	if d.code == http.StatusOK {
		a.allowed.put(key, d, a.now())
		return d, nil
	}
	a.log.V(1).Info("metrics caller refused", "code", d.code, "user", d.user, "reason", reason)
	a.refused.put(key, d, a.now())
	return d, nil
}

// review asks the API server who holds the token, then whether they may get /metrics.
// reason is what the API server said about a refusal.
func (a *metricsAuth) review(ctx context.Context, token string) (d decision, reason string, err error) {
	tr, err := a.tokens.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return decision{}, "", fmt.Errorf("TokenReview: %w", err)
	}
	if !tr.Status.Authenticated {
		return decision{code: http.StatusUnauthorized}, tr.Status.Error, nil
	}
	u := tr.Status.User
	extra := make(map[string]authorizationv1.ExtraValue, len(u.Extra))
	for k, v := range u.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar, err := a.access.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: metricsPath, Verb: "get"},
	}}, metav1.CreateOptions{})
	if err != nil {
		return decision{}, "", fmt.Errorf("SubjectAccessReview for user %q: %w", u.Username, err)
	}
	if !sar.Status.Allowed || sar.Status.Denied {
		return decision{code: http.StatusForbidden, user: u.Username}, sar.Status.Reason, nil
	}
	return decision{code: http.StatusOK, user: u.Username}, "", nil
}

// decisionCache keeps at most size decisions, each for ttl; when full, the least recently
// used goes.
type decisionCache struct {
	mu      sync.Mutex
	size    int
	ttl     time.Duration
	entries map[[sha256.Size]byte]*list.Element
	order   *list.List // of *cachedDecision, most recently used first
}

type cachedDecision struct {
	key     [sha256.Size]byte
	d       decision
	expires time.Time
}

func newDecisionCache(size int, ttl time.Duration) *decisionCache {
	return &decisionCache{size: size, ttl: ttl, entries: map[[sha256.Size]byte]*list.Element{}, order: list.New()}
}

func (c *decisionCache) get(key [sha256.Size]byte, now time.Time) (decision, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return decision{}, false
	}
	cd := e.Value.(*cachedDecision)
	if !now.Before(cd.expires) {
		c.order.Remove(e)
		delete(c.entries, key)
		return decision{}, false
	}
	c.order.MoveToFront(e)
	return cd.d, true
}

func (c *decisionCache) put(key [sha256.Size]byte, d decision, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		e.Value = &cachedDecision{key: key, d: d, expires: now.Add(c.ttl)}
		c.order.MoveToFront(e)
		return
	}
	for c.order.Len() >= c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.entries, last.Value.(*cachedDecision).key)
	}
	c.entries[key] = c.order.PushFront(&cachedDecision{key: key, d: d, expires: now.Add(c.ttl)})
}
