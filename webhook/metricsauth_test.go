package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// fakeReviews stands in for the API server's TokenReview and SubjectAccessReview
// endpoints: users maps the tokens it authenticates to users, allowed lists the users who
// may get /metrics.
type fakeReviews struct {
	users   map[string]authenticationv1.UserInfo
	allowed map[string]bool
	// fail, when set, is the status every review is answered with instead.
	fail int

	mu          sync.Mutex
	tokenCalls  int
	accessCalls int
	lastAccess  authorizationv1.SubjectAccessReviewSpec
}

func (f *fakeReviews) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/apis/authentication.k8s.io/v1/tokenreviews":
		f.tokenCalls++
	case "/apis/authorization.k8s.io/v1/subjectaccessreviews":
		f.accessCalls++
	default:
		http.NotFound(w, r)
		return
	}
	if f.fail != 0 {
		w.WriteHeader(f.fail)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"review failed","code":%d}`, f.fail)
		return
	}
	body, _ := io.ReadAll(r.Body)
	switch r.URL.Path {
	case "/apis/authentication.k8s.io/v1/tokenreviews":
		var tr authenticationv1.TokenReview
		if err := decodeReview(body, &tr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if u, ok := f.users[tr.Spec.Token]; ok {
			tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: u}
		} else {
			tr.Status = authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
		}
		_ = json.NewEncoder(w).Encode(tr)
	default:
		var sar authorizationv1.SubjectAccessReview
		if err := decodeReview(body, &sar); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.lastAccess = sar.Spec
		sar.Status.Allowed = f.allowed[sar.Spec.User]
		_ = json.NewEncoder(w).Encode(sar)
	}
}

// decodeReview reads a review as client-go sends it (protobuf, or JSON); the answer is
// JSON, which client-go accepts too.
func decodeReview(body []byte, into runtime.Object) error {
	_, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, into)
	return err
}

func (f *fakeReviews) calls() (tokens, access int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenCalls, f.accessCalls
}

func (f *fakeReviews) setFail(code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = code
}

// testClock is a clock the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const (
	allowedToken = "token-of-prometheus"
	deniedToken  = "token-of-nobody"
)

func newFakeReviews() *fakeReviews {
	return &fakeReviews{
		users: map[string]authenticationv1.UserInfo{
			allowedToken: {Username: "system:serviceaccount:monitoring:prometheus", UID: "uid-1",
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:monitoring"},
				Extra:  map[string]authenticationv1.ExtraValue{"authentication.kubernetes.io/pod-name": {"prometheus-0"}}},
			deniedToken: {Username: "system:serviceaccount:default:nobody", UID: "uid-2"},
		},
		allowed: map[string]bool{"system:serviceaccount:monitoring:prometheus": true},
	}
}

// authFixture is the filter in front of a handler that answers "metrics", asking host.
type authFixture struct {
	auth  *metricsAuth
	clock *testClock
	logs  *logBuffer
}

func newAuthFixture(t *testing.T, host string) *authFixture {
	t.Helper()
	logs := &logBuffer{}
	// Verbosity 1 shows refusals too: no log line at any level may hold a token.
	log := funcr.New(func(prefix, args string) { logs.add(prefix + " " + args) }, funcr.Options{Verbosity: 1})
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "metrics") })
	// QPS -1: no client-side rate limit, which would only slow the test down.
	a, err := newMetricsAuth(&rest.Config{Host: host, QPS: -1}, next, logr.New(log.GetSink()))
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	a.now = clock.Now
	return &authFixture{auth: a, clock: clock, logs: logs}
}

// withFakeAPI is the filter asking a fakeReviews that knows allowedToken and deniedToken.
func withFakeAPI(t *testing.T) (*fakeReviews, *authFixture) {
	t.Helper()
	api := newFakeReviews()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return api, newAuthFixture(t, srv.URL)
}

type answer struct {
	code            int
	body            string
	wwwAuthenticate string
	retryAfter      string
}

func (f *authFixture) get(t *testing.T, authorization string) answer {
	t.Helper()
	return f.getFrom(t, "192.0.2.1", authorization)
}

// getFrom is get from the given source address.
func (f *authFixture) getFrom(t *testing.T, source, authorization string) answer {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	r.RemoteAddr = net.JoinHostPort(source, "40000")
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	w := httptest.NewRecorder()
	f.auth.ServeHTTP(w, r)
	return answer{w.Code, w.Body.String(), w.Header().Get("WWW-Authenticate"), w.Header().Get("Retry-After")}
}

var (
	answerNoToken     = answer{http.StatusUnauthorized, "Unauthorized: send a bearer token (Authorization: Bearer <token>)\n", "Bearer", ""}
	answerRejected    = answer{http.StatusUnauthorized, "Unauthorized: the API server does not accept the token\n", "Bearer", ""}
	answerForbidden   = answer{http.StatusForbidden, `Forbidden: user "system:serviceaccount:default:nobody" may not get /metrics (bind it to a ClusterRole that allows get on the non-resource URL /metrics)` + "\n", "", ""}
	answerUnavailable = answer{http.StatusServiceUnavailable, "Service Unavailable: the API server could not be asked who the caller is\n", "", ""}
	answerMetrics     = answer{http.StatusOK, "metrics", "", ""}
)

// answerTooMany is the answer to a caller beyond the budget of checks: per source, or in all.
func answerTooMany(source string) answer {
	msg := fmt.Sprintf("2 tokens from %s are being checked already, the most podguard checks from one address at once; retry later", source)
	if source == "" {
		msg = "8 tokens are being checked already, the most podguard checks at once; retry later"
	}
	return answer{http.StatusTooManyRequests, "Too Many Requests: " + msg + "\n", "", "1"}
}

func TestMetricsAuthAnswers(t *testing.T) {
	cases := map[string]struct {
		authorization string
		apiStatus     int // the API server's answer to every review; 0: it reviews
		want          answer
		tokenCalls    int
		accessCalls   int
	}{
		"no Authorization header":                       {"", 0, answerNoToken, 0, 0},
		"Basic credentials":                             {"Basic dXNlcjpwYXNz", 0, answerNoToken, 0, 0},
		"Bearer without a token":                        {"Bearer ", 0, answerNoToken, 0, 0},
		"a token with a space in it":                    {"Bearer one two", 0, answerNoToken, 0, 0},
		"a token the API server does not authenticate":  {"Bearer not-a-token", 0, answerRejected, 1, 0},
		"an authenticated user without get on /metrics": {"Bearer " + deniedToken, 0, answerForbidden, 1, 1},
		"an authorised user":                            {"Bearer " + allowedToken, 0, answerMetrics, 1, 1},
		"an authorised user, scheme in lower case":      {"bearer " + allowedToken, 0, answerMetrics, 1, 1},
		"the API server fails":                          {"Bearer " + allowedToken, http.StatusInternalServerError, answerUnavailable, 1, 0},
		"podguard may not create TokenReviews":          {"Bearer " + allowedToken, http.StatusForbidden, answerUnavailable, 1, 0},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			api, f := withFakeAPI(t)
			api.setFail(c.apiStatus)
			if got := f.get(t, c.authorization); got != c.want {
				t.Errorf("GET /metrics with %q: %+v, want %+v", c.authorization, got, c.want)
			}
			if tokens, access := api.calls(); tokens != c.tokenCalls || access != c.accessCalls {
				t.Errorf("%d TokenReviews and %d SubjectAccessReviews, want %d and %d", tokens, access, c.tokenCalls, c.accessCalls)
			}
			token, _ := strings.CutPrefix(c.authorization, "Bearer ")
			token, _ = strings.CutPrefix(token, "bearer ")
			if token != "" {
				if lines := f.logs.containing(token); len(lines) > 0 {
					t.Errorf("the token is logged: %q", lines)
				}
			}
			if c.want.code == http.StatusServiceUnavailable {
				if lines := f.logs.containing("metrics caller not checked", "TokenReview", "review failed"); len(lines) != 1 {
					t.Errorf("want one log line saying why, got %q", f.logs.lines)
				}
			}
		})
	}
}

// The SubjectAccessReview asks about the user the TokenReview named, with its groups and
// extra, for get on the non-resource URL /metrics.
func TestMetricsAuthAsksForTheUser(t *testing.T) {
	api, f := withFakeAPI(t)
	if got := f.get(t, "Bearer "+allowedToken); got != answerMetrics {
		t.Fatalf("GET /metrics: %+v", got)
	}
	want := authorizationv1.SubjectAccessReviewSpec{
		User: "system:serviceaccount:monitoring:prometheus", UID: "uid-1",
		Groups:                []string{"system:serviceaccounts", "system:serviceaccounts:monitoring"},
		Extra:                 map[string]authorizationv1.ExtraValue{"authentication.kubernetes.io/pod-name": {"prometheus-0"}},
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if !reflect.DeepEqual(api.lastAccess, want) {
		t.Errorf("SubjectAccessReview spec %+v, want %+v", api.lastAccess, want)
	}
}

func TestMetricsAuthUnreachableAPIServer(t *testing.T) {
	// A port that was just free: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := "http://" + ln.Addr().String()
	ln.Close()
	f := newAuthFixture(t, host)
	if got := f.get(t, "Bearer "+allowedToken); got != answerUnavailable {
		t.Errorf("GET /metrics: %+v, want %+v", got, answerUnavailable)
	}
	if lines := f.logs.containing("metrics caller not checked", "connection refused"); len(lines) != 1 {
		t.Errorf("want one log line saying why, got %q", f.logs.lines)
	}
	if lines := f.logs.containing(allowedToken); len(lines) > 0 {
		t.Errorf("the token is logged: %q", lines)
	}
}

// A decision is kept for its time (a minute for an allowed caller, ten seconds for a
// refused one) and asked again after it; a failed review is not kept.
func TestMetricsAuthCachesDecisions(t *testing.T) {
	cases := map[string]struct {
		authorization string
		want          answer
		ttl           time.Duration
		callsPerAsk   int // reviews one decision takes
	}{
		"an authorised user":                            {"Bearer " + allowedToken, answerMetrics, time.Minute, 2},
		"an authenticated user without get on /metrics": {"Bearer " + deniedToken, answerForbidden, 10 * time.Second, 2},
		"a token the API server does not authenticate":  {"Bearer not-a-token", answerRejected, 10 * time.Second, 1},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			api, f := withFakeAPI(t)
			calls := func() int { tokens, access := api.calls(); return tokens + access }
			for i, step := range []struct {
				after time.Duration
				calls int
			}{
				{0, c.callsPerAsk},                            // asked
				{c.ttl - time.Second, c.callsPerAsk},          // kept
				{time.Second, 2 * c.callsPerAsk},              // expired: asked again
				{c.ttl - time.Millisecond, 2 * c.callsPerAsk}, // kept again
			} {
				f.clock.advance(step.after)
				if got := f.get(t, c.authorization); got != c.want {
					t.Fatalf("request %d: %+v, want %+v", i+1, got, c.want)
				}
				if got := calls(); got != step.calls {
					t.Fatalf("after request %d: %d reviews, want %d", i+1, got, step.calls)
				}
			}
		})
	}
}

func TestMetricsAuthDoesNotKeepFailures(t *testing.T) {
	api, f := withFakeAPI(t)
	api.setFail(http.StatusServiceUnavailable)
	if got := f.get(t, "Bearer "+allowedToken); got != answerUnavailable {
		t.Fatalf("API server failing: %+v, want %+v", got, answerUnavailable)
	}
	api.setFail(0)
	if got := f.get(t, "Bearer "+allowedToken); got != answerMetrics {
		t.Fatalf("API server back: %+v, want %+v", got, answerMetrics)
	}
	if tokens, access := api.calls(); tokens != 2 || access != 1 {
		t.Errorf("%d TokenReviews and %d SubjectAccessReviews, want 2 and 1", tokens, access)
	}
}

// Made-up tokens fill only the refusals' room, evicting the least recently used refusal;
// the allowed caller's decision stays.
func TestMetricsAuthBoundsTheCache(t *testing.T) {
	api, f := withFakeAPI(t)
	f.auth.allowed = newDecisionCache(2, allowedTTL)
	f.auth.refused = newDecisionCache(3, refusedTTL)
	tokenCalls := func() int { tokens, _ := api.calls(); return tokens }

	if got := f.get(t, "Bearer "+allowedToken); got != answerMetrics {
		t.Fatalf("authorised user: %+v", got)
	}
	for i := range 10 {
		if got := f.get(t, fmt.Sprintf("Bearer junk-%d", i)); got != answerRejected {
			t.Fatalf("junk-%d: %+v", i, got)
		}
	}
	if got := f.auth.refused.order.Len(); got != 3 {
		t.Errorf("%d refusals kept, want 3", got)
	}
	before := tokenCalls()
	if got := f.get(t, "Bearer "+allowedToken); got != answerMetrics || tokenCalls() != before {
		t.Errorf("authorised user after the junk: %+v after %d more TokenReviews, want the metrics from the cache", got, tokenCalls()-before)
	}
	// junk-9, -8 and -7 are kept; junk-0 was evicted.
	for _, c := range []struct {
		token string
		calls int
	}{{"junk-9", 0}, {"junk-7", 0}, {"junk-0", 1}} {
		before := tokenCalls()
		f.get(t, "Bearer "+c.token)
		if got := tokenCalls() - before; got != c.calls {
			t.Errorf("%s: %d TokenReviews, want %d", c.token, got, c.calls)
		}
	}
	// Asking junk-7 made it the most recently used: junk-0 took junk-8's place.
	before = tokenCalls()
	f.get(t, "Bearer junk-7")
	f.get(t, "Bearer junk-8")
	if got := tokenCalls() - before; got != 1 {
		t.Errorf("junk-7 and junk-8: %d TokenReviews, want 1 (junk-8's)", got)
	}
}

// Callers at once share the cache safely (run with -race): the authorised caller, whose
// decision is kept, is always served; made-up tokens are refused, or answered 429 when
// the checks in flight are at their bound.
func TestMetricsAuthConcurrentCallers(t *testing.T) {
	_, f := withFakeAPI(t)
	f.auth.refused = newDecisionCache(4, refusedTTL)
	if got := f.get(t, "Bearer "+allowedToken); got != answerMetrics {
		t.Fatalf("authorised user: %+v", got)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 64 {
		wg.Go(func() {
			source := fmt.Sprintf("192.0.2.%d", i+1)
			token, want := allowedToken, []answer{answerMetrics}
			if i%2 == 1 {
				token, want = fmt.Sprintf("junk-%d", i), []answer{answerRejected, answerTooMany("")}
			}
			if got := f.getFrom(t, source, "Bearer "+token); !slices.Contains(want, got) {
				errs <- fmt.Sprintf("%s: %+v, want one of %+v", token, got, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	// At least the first 8 made-up tokens were checked.
	if got := f.auth.refused.order.Len(); got != 4 {
		t.Errorf("%d refusals kept, want 4", got)
	}
}

// heldReviews holds the TokenReviews of tokens starting with "junk" until release is
// closed, telling arrived of each, so that checks stay in flight; others go through.
type heldReviews struct {
	next    http.Handler
	arrived chan struct{}
	release chan struct{}
}

func (h *heldReviews) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if strings.HasSuffix(r.URL.Path, "/tokenreviews") && bytes.Contains(body, []byte("junk")) {
		h.arrived <- struct{}{}
		<-h.release
	}
	h.next.ServeHTTP(w, r)
}

// Checks of unknown tokens in flight are bounded per source and in all; callers beyond
// are answered 429 at once, with Retry-After. Callers with the same token share one
// check. An authorised caller is served from the cache meanwhile, and one whose decision
// expired is checked again on its own client, not behind the held checks.
func TestMetricsAuthBoundsChecks(t *testing.T) {
	api := newFakeReviews()
	held := &heldReviews{next: api, arrived: make(chan struct{}, 16), release: make(chan struct{})}
	srv := httptest.NewServer(held)
	t.Cleanup(srv.Close)
	f := newAuthFixture(t, srv.URL)
	if got := f.get(t, "Bearer "+allowedToken); got != answerMetrics {
		t.Fatalf("authorised user: %+v", got)
	}

	type result struct {
		token string
		got   answer
	}
	results := make(chan result, 16)
	ask := func(source, token string) {
		go func() { results <- result{token, f.getFrom(t, source, "Bearer "+token)} }()
	}
	// Five callers with one token from one address: one check, held.
	for range 5 {
		ask("192.0.2.1", "junk-shared")
	}
	<-held.arrived
	// A second token from that address is checked; a third is over its bound.
	ask("192.0.2.1", "junk-second")
	<-held.arrived
	if got := f.getFrom(t, "192.0.2.1", "Bearer junk-third"); got != answerTooMany("192.0.2.1") {
		t.Errorf("a third token from one address: %+v, want %+v", got, answerTooMany("192.0.2.1"))
	}
	// Six more from three other addresses fill the bound of 8 in all.
	for i := range 6 {
		ask(fmt.Sprintf("192.0.2.%d", 2+i/2), fmt.Sprintf("junk-%d", i))
		<-held.arrived
	}
	if got := f.getFrom(t, "192.0.2.9", "Bearer junk-ninth"); got != answerTooMany("") {
		t.Errorf("a ninth token in flight: %+v, want %+v", got, answerTooMany(""))
	}
	if got := f.getFrom(t, "192.0.2.9", "Bearer "+allowedToken); got != answerMetrics {
		t.Errorf("authorised user, decision kept, while 8 checks are held: %+v", got)
	}
	f.clock.advance(allowedTTL)
	tokens, _ := api.calls()
	if got := f.getFrom(t, "192.0.2.9", "Bearer "+allowedToken); got != answerMetrics {
		t.Errorf("authorised user, decision expired, while 8 checks are held: %+v", got)
	}
	if after, _ := api.calls(); after != tokens+1 {
		t.Errorf("the expired decision made %d TokenReviews, want 1", after-tokens)
	}

	close(held.release)
	for range 5 + 1 + 6 {
		if r := <-results; r.got != answerRejected {
			t.Errorf("%s once its check ends: %+v, want %+v", r.token, r.got, answerRejected)
		}
	}
	// The shared check was one TokenReview: 8 held, and the expired decision's.
	if tokens, _ := api.calls(); tokens != 1+8+1 {
		t.Errorf("%d TokenReviews, want 10", tokens)
	}
	if got := f.getFrom(t, "192.0.2.1", "Bearer junk-third"); got != answerRejected {
		t.Errorf("a third token from one address, once the checks ended: %+v, want %+v", got, answerRejected)
	}
}
