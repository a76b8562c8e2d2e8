package pod.lib

# METADATA
# description: |
#   What the built-in rules need from the configuration alone (messages and fix hints of
#   what is not set, with examples from the defaults), worked out once: the engine
#   evaluates it when it loads a policy set and serves the result as data.pod.derived, so
#   that a review only looks it up. Without that (opa test), it is worked out when first
#   needed. It must not read the input.
derived := data.pod.derived if {
	data.pod.derived
} else := {
	"set_fixes": _set_fixes,
	"unset_messages": _unset_messages,
	"readable_fixes": _readable_fixes,
	"probe_texts": _probe_texts,
}
