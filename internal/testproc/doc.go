// Package testproc holds what tests need to run this module's programs, and
// the tools around them, as child processes: a Buffer for their output,
// Build for a main package of the module, FreePort, Start and Proc.Wait to
// start a process and wait until it is ready, Proc.Kill to crash it (SIGKILL),
// and RequireTool to skip a
// test when a tool is missing, unless an SSO_REQUIRE_x variable says the
// tool must be there.
//
// It imports only the standard library, so that any package's tests (and
// the test helpers testredis and nginxtest) can use it.
//
//	func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) } // Build needs it
//
//	func TestServe(t *testing.T) {
//		testproc.RequireTool(t, "SSO_REQUIRE_TOOLS", "curl")
//		bin := testproc.Build(t, "./cmd/sso") // built once per test binary
//		cmd := exec.Command(bin)
//		cmd.Env = append(testproc.Environ("SSO_"), "SSO_LISTEN=127.0.0.1:0")
//		p := testproc.Start(t, "sso", cmd) // stopped, and its output logged on failure, when t ends
//		addr, err := p.WaitListening(20 * time.Second)
//		if err != nil {
//			t.Fatal(err)
//		}
//		password := testproc.DemoPassword(p.Output())
//		...
//	}
package testproc
