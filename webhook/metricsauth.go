package webhook

import (
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/singleflight"
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
//
// Each token the cache does not know costs the API server a TokenReview, and client-go
// sends about five a second: a caller making up tokens would queue every later one behind
// its own. So the checks of unknown tokens in flight are bounded, per source address and
// in all, and a caller beyond the bound is answered 429 at once, with Retry-After. A
// token allowed before (its decision expired, but still kept) is checked again on a
// client of its own, with its own rate limit and no bound: the real scraper never waits
// behind made-up tokens. Callers with the same token at once share one check.
type metricsAuth struct {
	// unknown asks about tokens never allowed; known about tokens allowed before.
	unknown, known reviewClient
	next           http.Handler
	log            logr.Logger
	now            func() time.Time
	allowed        *decisionCache
	refused        *decisionCache
	checks         *checkBudget
	inFlight       singleflight.Group
}

// reviewClient asks the API server about a token, with a rate limit of its own.
type reviewClient struct {
	tokens authenticationclient.TokenReviewInterface
	access authorizationclient.SubjectAccessReviewInterface
}

const (
	metricsPath = "/metrics"
	// metricsReviewTimeout bounds both reviews of one caller, within Prometheus' default
	// scrape timeout of 10 s.
	metricsReviewTimeout = 5 * time.Second
	allowedTTL           = time.Minute
	refusedTTL           = 10 * time.Second
	decisionCacheSize    = 1024
	// checksPerSource and checksInFlight bound the checks of unknown tokens at once: from
	// one address, and in all. A scraper has one token, asked about once a minute.
	checksPerSource = 2
	checksInFlight  = 8
)

func newMetricsAuth(cfg *rest.Config, next http.Handler, log logr.Logger) (*metricsAuth, error) {
	var clients [2]reviewClient
	for i := range clients {
		// A client set each, so each has its own rate limiter.
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("metrics authentication: %w", err)
		}
		clients[i] = reviewClient{tokens: cs.AuthenticationV1().TokenReviews(), access: cs.AuthorizationV1().SubjectAccessReviews()}
	}
	return &metricsAuth{
		unknown: clients[0],
		known:   clients[1],
		checks:  newCheckBudget(checksPerSource, checksInFlight),
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
	d, err := a.decide(r.Context(), token, sourceOf(r))
	var busy *tooManyChecksError
	if errors.As(err, &busy) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "Too Many Requests: "+busy.Error(), http.StatusTooManyRequests)
		return
	}
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
func (a *metricsAuth) decide(ctx context.Context, token, source string) (decision, error) {
	key := sha256.Sum256([]byte(token))
	now := a.now()
	d, fresh, known := a.allowed.get(key, now)
	if fresh {
		return d, nil
	}
	if d, fresh, _ := a.refused.get(key, now); fresh {
		return d, nil
	}
	v, err, _ := a.inFlight.Do(string(key[:]), func() (any, error) {
		client := a.known
		if !known {
			if err := a.checks.take(source); err != nil {
				return decision{}, err
			}
			defer a.checks.give(source)
			client = a.unknown
		}
		return a.check(ctx, client, token, key)
	})
	return v.(decision), err
}

// check asks the API server about the token and keeps the answer.
func (a *metricsAuth) check(ctx context.Context, client reviewClient, token string, key [sha256.Size]byte) (decision, error) {
	// The reviews run to their end even if the caller leaves: the answer is kept.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), metricsReviewTimeout)
	defer cancel()
	d, reason, err := client.review(ctx, token)
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
	a.allowed.remove(key)
	a.refused.put(key, d, a.now())
	return d, nil
}

// sourceOf is the caller's address, without its port.
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// checkBudget bounds the checks of unknown tokens in flight, per source and in all.
type checkBudget struct {
	mu               sync.Mutex
	perSource, total int
	bySource         map[string]int
	inFlight         int
}

func newCheckBudget(perSource, total int) *checkBudget {
	return &checkBudget{perSource: perSource, total: total, bySource: map[string]int{}}
}

// tooManyChecksError refuses a caller beyond the budget: answered 429.
type tooManyChecksError struct{ reason string }

func (e *tooManyChecksError) Error() string { return e.reason }

func (b *checkBudget) take(source string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bySource[source] >= b.perSource {
		return &tooManyChecksError{fmt.Sprintf("%d tokens from %s are being checked already, the most podguard checks from one address at once; retry later", b.perSource, source)}
	}
	if b.inFlight >= b.total {
		return &tooManyChecksError{fmt.Sprintf("%d tokens are being checked already, the most podguard checks at once; retry later", b.total)}
	}
	b.bySource[source]++
	b.inFlight++
	return nil
}

func (b *checkBudget) give(source string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inFlight--
	if b.bySource[source]--; b.bySource[source] <= 0 {
		delete(b.bySource, source)
	}
}

// review asks the API server who holds the token, then whether they may get /metrics.
// reason is what the API server said about a refusal.
func (c reviewClient) review(ctx context.Context, token string) (d decision, reason string, err error) {
	tr, err := c.tokens.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
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
	sar, err := c.access.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
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

// decisionCache keeps at most size decisions, each fresh for ttl; when full, the least
// recently used goes. An expired decision stays until it is replaced or goes: it says
// that the token was seen.
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

// get is the decision kept for key; fresh says whether it is within its ttl.
func (c *decisionCache) get(key [sha256.Size]byte, now time.Time) (d decision, fresh, found bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return decision{}, false, false
	}
	c.order.MoveToFront(e)
	cd := e.Value.(*cachedDecision)
	return cd.d, now.Before(cd.expires), true
}

func (c *decisionCache) remove(key [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		c.order.Remove(e)
		delete(c.entries, key)
	}
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
