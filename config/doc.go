// Package config turns command-line flags, environment variables and an
// optional YAML file into a validated, typed Config for sso.
//
// Every setting has one name in three spellings: the environment variable
// (SSO_COOKIE_DOMAINS), the flag (--cookie-domains) and the key of the YAML
// file named by --config or SSO_CONFIG (cookie_domains). Flags beat the
// environment, which beats the file, which beats the defaults. Without
// SSO_COOKIE_DOMAINS from any source, Load selects dev mode: cookie domain
// example.test, cookies without Secure and a derived login URL.
//
// Load checks the shape of each value and the rules between them and
// reports every problem at once, one line each, naming the setting, the bad
// value and what would be valid. Secret values never appear in errors,
// String, Redacted or LogValue. Deeper checks (public suffixes, key lengths,
// origin patterns) are left to the constructors that use the values.
//
// Usage in main:
//
//	cfg, err := config.Load(os.Args[1:], os.Getenv)
//	if errors.Is(err, flag.ErrHelp) {
//		fmt.Fprint(stdout, config.Usage())
//		return nil
//	}
//	if err != nil {
//		return err // one line per problem
//	}
//	for _, n := range cfg.Notes {
//		logger.Warn(n)
//	}
//	logger.Info("configuration", "config", cfg) // secrets redacted
package config
