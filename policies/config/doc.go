// Package config reads podguard's configuration file: per-rule enforcement and
// parameters, mutation defaults and namespace exemptions. A user file is merged over the
// defaults embedded with the policies and validated; errors name the key and the reason.
package config
