// Package users reads a users file in the shape of Authelia's file backend,
// checks passwords against its argon2id or bcrypt hashes, and hashes new
// passwords.
//
// The file:
//
//	users:
//	  alice:
//	    displayname: Alice Doe
//	    email: alice@example.com
//	    password: "$argon2id$v=19$m=65536,t=3,p=4$…"
//	    groups: [admins, dev]
//	    disabled: false
//
// Authelia's other optional attributes (given_name, address, extra, …) are
// ignored. Hashes may carry Authelia's "{CRYPT}" prefix. argon2id and bcrypt
// ($2a$, $2b$, $2y$) are supported; the other schemes Authelia accepts
// (argon2i, sha512crypt, pbkdf2, scrypt) are refused at load time with the
// user's name, as are parameters a hostile file could use to exhaust the
// machine (argon2 m > 4 GiB, t > 100, p > 255; bcrypt cost > 16).
//
// Usage:
//
//	dir, err := users.LoadFile("/etc/sso/users.yml")
//	if err != nil {
//		return err
//	}
//	u, err := dir.Authenticate("alice@example.com", password)
//	if errors.Is(err, users.ErrInvalidCredentials) {
//		// 401, one generic message
//	}
//
// A File is the users file while it is in use: Authenticate and Lookup ask
// the users read last, Reload and Watch (fsnotify on the file's directory,
// so that rename-over-write saves and Kubernetes ConfigMap updates are
// seen) read it again, and a file that does not parse or validate leaves
// the previous users in force:
//
//	f, err := users.OpenFile(path, users.FileOptions{Log: log, OnChange: func(c users.Change) {
//		// c.Revoked: enabled before, removed or disabled now
//	}})
//	go f.Watch(ctx)
//
// A Directory is immutable and safe for concurrent use. Unknown and disabled
// users are verified against a dummy hash with the cost parameters most users
// in the file have, so a failed login takes as long whether or not the user
// exists.
package users
