package config_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/podguard/podguard/policies"
	"github.com/podguard/podguard/policies/config"
)

// embeddedDefaults is policies/pod/config/data.yaml as plain JSON values.
func embeddedDefaults(t *testing.T) map[string]any {
	t.Helper()
	b, err := policies.FS.ReadFile(policies.DefaultConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// at returns the value at a dotted path of keys in plain JSON values.
func at(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func js(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var defaultEnforcement = map[string]config.Enforcement{
	"resources-requests": config.Deny,
	"resources-limits":   config.Deny,
	"liveness-probe":     config.Deny,
	"readiness-probe":    config.Deny,
	"startup-probe":      config.Off,
	"required-labels":    config.Deny,
	"image-tag":          config.Deny,
}

func TestDefaults(t *testing.T) {
	want := embeddedDefaults(t)
	for desc, user := range map[string]string{
		"no file":           "",
		"whitespace only":   " \n\t\n",
		"comments only":     "# nothing configured yet\n",
		"empty mapping":     "{}",
		"empty JSON object": `{}`,
	} {
		t.Run(desc, func(t *testing.T) {
			cfg, err := config.Parse([]byte(user), nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(cfg.Data, want) {
				t.Errorf("Data = %s\nwant the embedded defaults %s", js(t, cfg.Data), js(t, want))
			}
			if !reflect.DeepEqual(cfg.Rules, defaultEnforcement) {
				t.Errorf("Rules = %v, want %v", cfg.Rules, defaultEnforcement)
			}
			if want := []string{"kube-system", "kube-public", "kube-node-lease"}; !reflect.DeepEqual(cfg.Exempt, want) {
				t.Errorf("Exempt = %v, want %v", cfg.Exempt, want)
			}
		})
	}
	t.Run("Default() equals Parse(nil, nil)", func(t *testing.T) {
		d, err := config.Default()
		if err != nil {
			t.Fatal(err)
		}
		p, _ := config.Parse(nil, nil)
		if !reflect.DeepEqual(d, p) {
			t.Errorf("Default() = %+v, Parse(nil, nil) = %+v", d, p)
		}
	})
	t.Run("every built-in rule is configured", func(t *testing.T) {
		d, _ := config.Default()
		for _, id := range config.BuiltinRules {
			if _, ok := d.Rules[id]; !ok {
				t.Errorf("rule %s missing from the defaults", id)
			}
		}
	})
}

// TestMerge checks what the user's file does to the defaults: a map merges key by key, a
// list or scalar replaces, null removes.
func TestMerge(t *testing.T) {
	cases := map[string]struct {
		yaml   string
		custom []string
		// path -> expected JSON of the value at that path of Data ("null" = absent)
		want  map[string]string
		rules map[string]config.Enforcement // expected entries of Rules (others as default)
	}{
		"partial rule override keeps the other default parameters": {
			yaml: "rules:\n  resources-limits:\n    max: {memory: 8Gi}\n",
			want: map[string]string{
				"rules.resources-limits":   `{"containerTypes":["containers","initContainers"],"enforcement":"deny","max":{"memory":"8Gi"},"podLevel":"counts","resources":["cpu","memory"]}`,
				"rules.resources-requests": `{"containerTypes":["containers","initContainers"],"enforcement":"deny","podLevel":"counts","resources":["cpu","memory"]}`,
			},
		},
		"enforcement alone changes only the enforcement": {
			yaml: "rules:\n  liveness-probe: {enforcement: warn}\n  readiness-probe: {enforcement: audit}\n  startup-probe: {enforcement: deny}\n",
			want: map[string]string{
				"rules.liveness-probe": `{"containerTypes":["containers","initContainers"],"enforcement":"warn","handlers":["exec","httpGet","tcpSocket","grpc"]}`,
			},
			rules: map[string]config.Enforcement{"liveness-probe": config.Warn, "readiness-probe": config.Audit, "startup-probe": config.Deny},
		},
		"quoted off switches a rule off": {
			yaml:  "rules:\n  image-tag: {enforcement: \"off\"}\n",
			rules: map[string]config.Enforcement{"image-tag": config.Off},
		},
		"null removes a default mutation value": {
			yaml: "defaults:\n  resources:\n    limits: {cpu: null}\n",
			want: map[string]string{
				"defaults.resources.limits":   `{"memory":"256Mi"}`,
				"defaults.resources.requests": `{"cpu":"100m","memory":"128Mi"}`,
			},
		},
		"null on a built-in rule's parameter gives it back its default": {
			yaml: "rules:\n  image-tag: {exemptImages: null, disallowedTags: null}\n",
			want: map[string]string{
				"rules.image-tag": `{"containerTypes":["containers","initContainers","ephemeralContainers"],"disallowedTags":["latest"],"enforcement":"deny","exemptImages":[]}`,
			},
		},
		"a list replaces the default list": {
			yaml: "rules:\n  image-tag: {disallowedTags: [dev, main]}\n  resources-requests: {resources: [memory]}\n",
			want: map[string]string{
				"rules.image-tag.disallowedTags":     `["dev","main"]`,
				"rules.resources-requests.resources": `["memory"]`,
			},
		},
		"namespaces.exempt replaces the default list": {
			yaml: "namespaces:\n  exempt: [kube-system, team-*]\n",
			want: map[string]string{
				"namespaces": `{"exempt":["kube-system","team-*"],"overrides":[]}`,
			},
		},
		"required labels replace the default label": {
			yaml: "rules:\n  required-labels:\n    labels:\n      - {key: app.kubernetes.io/name}\n      - {key: team, allowedRegex: \"^[a-z-]+$\"}\n",
			want: map[string]string{
				"rules.required-labels": `{"enforcement":"deny","labels":[{"key":"app.kubernetes.io/name"},{"allowedRegex":"^[a-z-]+$","key":"team"}]}`,
			},
		},
		"numbers reach Rego as numbers, not strings": {
			yaml: "rules:\n  resources-limits: {max: {cpu: 2}, maxLimitRequestRatio: {memory: 2.5}}\ndefaults:\n  resources: {requests: {cpu: 0.25}}\n",
			want: map[string]string{
				"rules.resources-limits.max":                  `{"cpu":2}`,
				"rules.resources-limits.maxLimitRequestRatio": `{"memory":2.5}`,
				"defaults.resources.requests":                 `{"cpu":0.25,"memory":"128Mi"}`,
			},
		},
		"the design's sample configuration": {
			yaml: `rules:
  resources-limits: {enforcement: deny, resources: [cpu, memory], max: {memory: 8Gi}}
  liveness-probe:  {enforcement: warn, enforceAfter: "2027-03-01T00:00:00Z"}
  required-labels: {enforcement: deny, labels: [{key: app.kubernetes.io/name}, {key: team, allowedRegex: "^[a-z-]+$"}]}
  image-tag:       {enforcement: deny, disallowedTags: [latest], exemptImages: ["registry.k8s.io/pause:*"]}
defaults:
  resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 256Mi}}
namespaces:
  exempt: [kube-system, kube-public, kube-node-lease]
  overrides: [{names: [legacy-*], enforcement: warn}]
`,
			want: map[string]string{
				"rules.liveness-probe.enforceAfter": `"2027-03-01T00:00:00Z"`,
				"rules.image-tag.exemptImages":      `["registry.k8s.io/pause:*"]`,
				// limits merge key by key: the cpu limit default stays.
				"defaults.resources.limits": `{"cpu":"500m","memory":"256Mi"}`,
				"namespaces.overrides":      `[{"enforcement":"warn","names":["legacy-*"]}]`,
			},
			rules: map[string]config.Enforcement{"liveness-probe": config.Warn},
		},
		"JSON is accepted too": {
			yaml:  `{"rules": {"image-tag": {"enforcement": "warn"}}}`,
			rules: map[string]config.Enforcement{"image-tag": config.Warn},
		},
		"custom rule named in customRules takes arbitrary parameters": {
			yaml:   "rules:\n  team-owner:\n    enforcement: warn\n    owners: [alice, bob]\n    nested: {depth: 3, strict: true}\n",
			custom: []string{"team-owner"},
			want: map[string]string{
				"rules.team-owner": `{"enforcement":"warn","nested":{"depth":3,"strict":true},"owners":["alice","bob"]}`,
			},
			rules: map[string]config.Enforcement{"team-owner": config.Warn},
		},
		"custom rule without enforcement denies": {
			yaml:   "rules:\n  team-owner: {owners: [alice]}\n",
			custom: []string{"team-owner"},
			rules:  map[string]config.Enforcement{"team-owner": config.Deny},
		},
		"override naming rules, including a custom one": {
			yaml:   "namespaces:\n  overrides:\n    - {names: [legacy-*, sandbox], enforcement: \"off\", rules: [image-tag, team-owner]}\n",
			custom: []string{"team-owner"},
			want: map[string]string{
				"namespaces.overrides": `[{"enforcement":"off","names":["legacy-*","sandbox"],"rules":["image-tag","team-owner"]}]`,
			},
		},
		"valid enforceAfter with an offset": {
			yaml: "rules:\n  readiness-probe: {enforceAfter: \"2027-03-01T09:00:00+01:00\"}\n",
			want: map[string]string{"rules.readiness-probe.enforceAfter": `"2027-03-01T09:00:00+01:00"`},
		},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			cfg, err := config.Parse([]byte(c.yaml), c.custom)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			for path, want := range c.want {
				got := at(cfg.Data, strings.Split(path, ".")...)
				if g := js(t, got); g != want {
					t.Errorf("%s = %s\nwant %s", path, g, want)
				}
			}
			wantRules := map[string]config.Enforcement{}
			for k, v := range defaultEnforcement {
				wantRules[k] = v
			}
			for k, v := range c.rules {
				wantRules[k] = v
			}
			if !reflect.DeepEqual(cfg.Rules, wantRules) {
				t.Errorf("Rules = %v\nwant %v", cfg.Rules, wantRules)
			}
		})
	}
}

// TestMergeDoesNotTouchTheDefaults: one Parse must not leak into the next.
func TestMergeDoesNotTouchTheDefaults(t *testing.T) {
	if _, err := config.Parse([]byte("rules:\n  image-tag: {exemptImages: null, enforcement: warn}\ndefaults:\n  resources: {limits: {cpu: null}}\n"), nil); err != nil {
		t.Fatal(err)
	}
	d, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.Data, embeddedDefaults(t)) {
		t.Errorf("defaults changed by an earlier Parse: %s", js(t, d.Data))
	}
}

const known = "resources-requests, resources-limits, liveness-probe, readiness-probe, startup-probe, required-labels, image-tag"

// TestErrors: every refusal names the key path and the reason. want is the exact error.
func TestErrors(t *testing.T) {
	cases := map[string]struct {
		yaml   string
		custom []string
		want   string
	}{
		"unknown top-level key": {
			yaml: "rule:\n  image-tag: {enforcement: warn}\n",
			want: "rule: unknown key (expected rules, defaults, namespaces or exceptions)",
		},
		"unknown rule": {
			yaml: "rules:\n  image-tags: {enforcement: warn}\n",
			want: "rules.image-tags: unknown rule (known: " + known + ")",
		},
		"unknown rule lists the custom rules among the known ones": {
			yaml:   "rules:\n  team-ownr: {}\n",
			custom: []string{"team-owner"},
			want:   "rules.team-ownr: unknown rule (known: " + known + ", team-owner)",
		},
		"custom rule id not found in the policy set": {
			yaml: "rules:\n  team-owner: {enforcement: warn}\n",
			want: "rules.team-owner: unknown rule (known: " + known + ")",
		},
		"unknown parameter of a built-in rule": {
			yaml: "rules:\n  image-tag: {disallowedTag: [dev]}\n",
			want: "rules.image-tag.disallowedTag: unknown parameter (image-tag takes containerTypes, disallowedTags, enforceAfter, enforcement, exemptImages)",
		},
		"unknown parameter of a probe rule": {
			yaml: "rules:\n  liveness-probe: {handler: [exec]}\n",
			want: "rules.liveness-probe.handler: unknown parameter (liveness-probe takes containerTypes, enforceAfter, enforcement, handlers)",
		},
		"a default request below the same configuration's minimum": {
			yaml: "rules:\n  resources-requests: {min: {cpu: 200m}}\n",
			want: `defaults.resources.requests.cpu: "100m" is below rules.resources-requests.min.cpu "200m": podguard would add it and then deny the Pod for it`,
		},
		"a default limit above the same configuration's maximum": {
			yaml: "rules:\n  resources-limits: {max: {memory: 128Mi}}\n",
			want: `defaults.resources.limits.memory: "256Mi" is above rules.resources-limits.max.memory "128Mi": podguard would add it and then deny the Pod for it`,
		},
		"default limit and request further apart than the configuration's ratio": {
			yaml: "rules:\n  resources-limits: {maxLimitRequestRatio: {cpu: 4}}\n",
			want: `defaults.resources.limits.cpu: "500m" is more than rules.resources-limits.maxLimitRequestRatio.cpu (4) times defaults.resources.requests.cpu "100m": podguard would add both and then deny the Pod for them`,
		},
		"enforceAfter with enforcement off": {
			yaml: "rules:\n  liveness-probe: {enforcement: \"off\", enforceAfter: \"2027-03-01T00:00:00Z\"}\n",
			want: `rules.liveness-probe.enforceAfter: the rule is off, so nothing would warn before it starts denying; set enforcement to warn (or audit) to be warned until then`,
		},
		"a quantity beyond 2^63-1": {
			yaml: "rules:\n  resources-limits: {max: {memory: 1e999999}}\n",
			want: `rules.resources-limits.max.memory: "1e999999" is larger than any quantity Kubernetes can use (9223372036854775807)`,
		},
		"maxLimitRequestRatio is not a parameter of resources-requests": {
			yaml: "rules:\n  resources-requests: {maxLimitRequestRatio: {cpu: 2}}\n",
			want: "rules.resources-requests.maxLimitRequestRatio: unknown parameter (resources-requests takes containerTypes, enforceAfter, enforcement, max, min, podLevel, resources)",
		},
		"bad enforcement": {
			yaml: "rules:\n  liveness-probe: {enforcement: block}\n",
			want: `rules.liveness-probe.enforcement: "block" is not one of deny, warn, audit, off`,
		},
		"bad enforcement of a custom rule": {
			yaml:   "rules:\n  team-owner: {enforcement: Deny}\n",
			custom: []string{"team-owner"},
			want:   `rules.team-owner.enforcement: "Deny" is not one of deny, warn, audit, off`,
		},
		"bad quantity in max": {
			yaml: "rules:\n  resources-limits: {max: {memory: 8GB}}\n",
			want: `rules.resources-limits.max.memory: "8GB" is not a quantity such as 500m or 256Mi`,
		},
		"bad quantity in min of requests": {
			yaml: "rules:\n  resources-requests: {min: {cpu: a lot}}\n",
			want: `rules.resources-requests.min.cpu: "a lot" is not a quantity such as 500m or 256Mi`,
		},
		"quantity of the wrong type in max": {
			yaml: "rules:\n  resources-limits: {max: {memory: [8Gi]}}\n",
			want: `rules.resources-limits.max.memory: ["8Gi"] is not a quantity such as 500m or 256Mi`,
		},
		"bad quantity in defaults.requests": {
			yaml: "defaults:\n  resources: {requests: {cpu: lots}}\n",
			want: `defaults.resources.requests.cpu: "lots" is not a quantity such as 500m or 256Mi`,
		},
		"bad quantity in defaults.limits": {
			yaml: "defaults:\n  resources: {limits: {memory: 256MB}}\n",
			want: `defaults.resources.limits.memory: "256MB" is not a quantity such as 500m or 256Mi`,
		},
		"maxLimitRequestRatio below 1": {
			yaml: "rules:\n  resources-limits: {maxLimitRequestRatio: {cpu: 0.5}}\n",
			want: "rules.resources-limits.maxLimitRequestRatio.cpu: 0.5 is not a number of at least 1",
		},
		"maxLimitRequestRatio not a number": {
			yaml: "rules:\n  resources-limits: {maxLimitRequestRatio: {cpu: two}}\n",
			want: "rules.resources-limits.maxLimitRequestRatio.cpu: two is not a number of at least 1",
		},
		"maxLimitRequestRatio with trailing characters": {
			// Rego reads it with units.parse, which fails on every Pod (see webhook tests).
			yaml: "rules:\n  resources-limits: {maxLimitRequestRatio: {memory: 2x}}\n",
			want: "rules.resources-limits.maxLimitRequestRatio.memory: 2x is not a number of at least 1",
		},
		"empty resource name": {
			yaml: "rules:\n  resources-limits: {resources: [cpu, \"\"]}\n",
			want: "rules.resources-limits.resources[1]: must not be empty",
		},
		"bad container type": {
			yaml: "rules:\n  image-tag: {containerTypes: [containers, sidecars]}\n",
			want: `rules.image-tag.containerTypes[1]: "sidecars" is not one of containers, initContainers, ephemeralContainers`,
		},
		"bad probe handler": {
			yaml: "rules:\n  readiness-probe: {handlers: [http]}\n",
			want: `rules.readiness-probe.handlers[0]: "http" is not a probe handler (exec, httpGet, tcpSocket, grpc)`,
		},
		"a label value that is no label value": {
			yaml: "rules:\n  required-labels: {labels: [{key: team, value: \"shop team\"}]}\n",
			want: `rules.required-labels.labels[0].value: "shop team" is not a label value: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
		},
		"a label value its allowedRegex refuses": {
			yaml: "rules:\n  required-labels: {labels: [{key: team, allowedRegex: \"^[a-z]+$\", value: shop-1}]}\n",
			want: `rules.required-labels.labels[0].value: "shop-1" does not match its allowedRegex ^[a-z]+$`,
		},
		"bad regex in allowedRegex": {
			yaml: "rules:\n  required-labels: {labels: [{key: app.kubernetes.io/name}, {key: team, allowedRegex: \"^[a-z\"}]}\n",
			want: "rules.required-labels.labels[1].allowedRegex: error parsing regexp: missing closing ]: `[a-z`",
		},
		"empty label key": {
			yaml: "rules:\n  required-labels: {labels: [{allowedRegex: \"^x$\"}]}\n",
			want: "rules.required-labels.labels[0].key: must not be empty",
		},
		"bad enforceAfter": {
			yaml: "rules:\n  liveness-probe: {enforceAfter: next March}\n",
			want: `rules.liveness-probe.enforceAfter: "next March" is not an RFC 3339 time such as 2027-03-01T00:00:00Z`,
		},
		"enforceAfter without a time": {
			yaml: "rules:\n  liveness-probe: {enforceAfter: \"2027-03-01\"}\n",
			want: `rules.liveness-probe.enforceAfter: "2027-03-01" is not an RFC 3339 time such as 2027-03-01T00:00:00Z`,
		},
		"bad glob in namespaces.exempt": {
			yaml: "namespaces:\n  exempt: [kube-system, \"team-[\"]\n",
			want: `namespaces.exempt[1]: "team-[" is not a valid glob pattern`,
		},
		"bad glob in exemptImages": {
			yaml: "rules:\n  image-tag: {exemptImages: [\"registry.k8s.io/[pause\"]}\n",
			want: `rules.image-tag.exemptImages[0]: "registry.k8s.io/[pause" is not a valid glob pattern`,
		},
		"exemptImages glob that Rego's glob.match refuses (unclosed brace)": {
			// path.Match accepts it; glob.match, which image-tag uses, fails on every Pod.
			yaml: "rules:\n  image-tag: {exemptImages: [\"registry.k8s.io/{pause,coredns\"]}\n",
			want: `rules.image-tag.exemptImages[0]: "registry.k8s.io/{pause,coredns" is not a valid glob pattern`,
		},
		"override name glob that Rego's glob.match refuses (unclosed brace)": {
			yaml: "namespaces:\n  overrides: [{names: [\"legacy-{a\"], enforcement: warn}]\n",
			want: `namespaces.overrides[0].names[0]: "legacy-{a" is not a valid glob pattern`,
		},
		"bad glob in an override": {
			yaml: "namespaces:\n  overrides: [{names: [ok, \"bad[\"], enforcement: warn}]\n",
			want: `namespaces.overrides[0].names[1]: "bad[" is not a valid glob pattern`,
		},
		"override without names": {
			yaml: "namespaces:\n  overrides: [{names: [a], enforcement: warn}, {enforcement: warn}]\n",
			want: "namespaces.overrides[1].names: at least one namespace name or glob is required (or a namespaceSelector)",
		},
		"override with an unknown rule": {
			yaml: "namespaces:\n  overrides: [{names: [legacy-*], enforcement: warn, rules: [image-tag, nope]}]\n",
			want: `namespaces.overrides[0].rules[1]: unknown rule "nope"`,
		},
		"override without enforcement": {
			yaml: "namespaces:\n  overrides: [{names: [legacy-*]}]\n",
			want: "namespaces.overrides[0].enforcement: required (deny, warn, audit or off)",
		},
		"override with a bad enforcement": {
			yaml: "namespaces:\n  overrides: [{names: [legacy-*], enforcement: relaxed}]\n",
			want: `namespaces.overrides[0].enforcement: "relaxed" is not one of deny, warn, audit, off`,
		},
		"maxLimitRequestRatio NaN": {
			// strconv.ParseFloat reads it; Rego's units.parse does not.
			yaml: "rules:\n  resources-limits: {maxLimitRequestRatio: {cpu: NaN}}\n",
			want: "rules.resources-limits.maxLimitRequestRatio.cpu: NaN is not a number of at least 1",
		},
		"maxLimitRequestRatio as a hexadecimal float": {
			yaml: "rules:\n  resources-limits: {maxLimitRequestRatio: {cpu: \"0x1p4\"}}\n",
			want: "rules.resources-limits.maxLimitRequestRatio.cpu: 0x1p4 is not a number of at least 1",
		},
		"enforceAfter beyond Rego's clock (int64 nanoseconds end in April 2262)": {
			yaml: "rules:\n  liveness-probe: {enforceAfter: \"2999-01-01T00:00:00Z\"}\n",
			want: `rules.liveness-probe.enforceAfter: "2999-01-01T00:00:00Z" is outside 1970 to 2262`,
		},
		"unquoted off (YAML 1.1 reads it as false)": {
			yaml: "rules:\n  startup-probe: {enforcement: off}\n",
			want: `rules.startup-probe.enforcement: false is not one of deny, warn, audit, off (write "off" in quotes)`,
		},
		"rule given as a scalar": {
			yaml: "rules:\n  image-tag: deny\n",
			want: `rules.image-tag: must be a mapping, not "deny"`,
		},
		"rules given as a list": {
			yaml: "rules: [image-tag]\n",
			want: `rules: must be a mapping, not ["image-tag"]`,
		},
		"list parameter given as a scalar": {
			yaml: "rules:\n  image-tag: {disallowedTags: latest}\n",
			want: `rules.image-tag.disallowedTags: must be a list, not "latest"`,
		},
		"empty disallowed tag": {
			yaml: "rules:\n  image-tag: {disallowedTags: [\"\"]}\n",
			want: "rules.image-tag.disallowedTags[0]: must not be empty",
		},
		"unknown key under defaults": {
			yaml: "defaults:\n  resource: {requests: {cpu: 100m}}\n",
			want: "defaults.resource: unknown key (expected resources)",
		},
		"unknown key under defaults.resources": {
			yaml: "defaults:\n  resources: {request: {cpu: 100m}}\n",
			want: "defaults.resources.request: unknown key (expected limits, requests)",
		},
		"unknown key under namespaces": {
			yaml: "namespaces:\n  exemt: [kube-system]\n",
			want: "namespaces.exemt: unknown key (expected exempt, overrides)",
		},
		"namespaces.exempt given as a scalar": {
			yaml: "namespaces:\n  exempt: kube-system\n",
			want: `namespaces.exempt: must be a list, not "kube-system"`,
		},
		"unknown key of a label": {
			yaml: "rules:\n  required-labels: {labels: [{key: team, regex: \"^x$\"}]}\n",
			want: "rules.required-labels.labels[0].regex: unknown key (expected allowedRegex, key, value)",
		},
		"label key of the wrong type": {
			yaml: "rules:\n  required-labels: {labels: [{key: 5}]}\n",
			want: "rules.required-labels.labels[0].key: must be a string, not 5",
		},
		"unknown key of an override": {
			yaml: "namespaces:\n  overrides: [{names: [a], enforcement: warn, rule: [image-tag]}]\n",
			want: "namespaces.overrides[0].rule: unknown key (expected enforcement, names, namespaceSelector, rules)",
		},
		"not YAML": {
			yaml: "rules: [\n",
			want: "not valid YAML: ",
		},
		"duplicate key": {
			yaml: "rules:\n  image-tag: {enforcement: warn}\n  image-tag: {enforcement: deny}\n",
			want: "not valid YAML: ",
		},
		"top level is a list": {
			yaml: "- rules\n",
			want: "must be a mapping with rules, defaults and namespaces: ",
		},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			cfg, err := config.Parse([]byte(c.yaml), c.custom)
			if err == nil {
				t.Fatalf("Parse accepted it: rules %v", cfg.Rules)
			}
			if strings.HasSuffix(c.want, ": ") {
				if !strings.HasPrefix(err.Error(), c.want) {
					t.Errorf("error %q\nwant it to start with %q", err, c.want)
				}
				return
			}
			if err.Error() != c.want {
				t.Errorf("error %q\nwant  %q", err, c.want)
			}
		})
	}
}

func TestExempted(t *testing.T) {
	cfg, err := config.Parse([]byte("namespaces:\n  exempt: [kube-system, \"team-*\", \"ci-?\", \"sandbox-[0-9]\"]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		namespace string
		pattern   string
		exempt    bool
	}{
		"exact name":                    {"kube-system", "kube-system", true},
		"star glob":                     {"team-payments", "team-*", true},
		"star matches the empty rest":   {"team-", "team-*", true},
		"question mark":                 {"ci-1", "ci-?", true},
		"question mark is one char":     {"ci-12", "", false},
		"character class":               {"sandbox-7", "sandbox-[0-9]", true},
		"character class miss":          {"sandbox-x", "", false},
		"prefix of an exempt name":      {"kube", "", false},
		"an exempt name plus a suffix":  {"kube-system-2", "", false},
		"default namespace":             {"default", "", false},
		"cluster-scoped (no namespace)": {"", "", false},
		"default exemptions replaced":   {"kube-public", "", false},
	}
	for desc, c := range cases {
		t.Run(desc, func(t *testing.T) {
			p, ok := cfg.Exempted(c.namespace)
			if p != c.pattern || ok != c.exempt {
				t.Errorf("Exempted(%q) = %q, %v; want %q, %v", c.namespace, p, ok, c.pattern, c.exempt)
			}
		})
	}
	t.Run("defaults exempt the system namespaces", func(t *testing.T) {
		d, _ := config.Default()
		for _, ns := range []string{"kube-system", "kube-public", "kube-node-lease"} {
			if p, ok := d.Exempted(ns); !ok || p != ns {
				t.Errorf("Exempted(%q) = %q, %v", ns, p, ok)
			}
		}
		if _, ok := d.Exempted("default"); ok {
			t.Error("default is exempt")
		}
	})
}
