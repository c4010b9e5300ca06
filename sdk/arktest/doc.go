// Package arktest is the conformance kit of the SDK: vendors call Run from
// their own `go test` to check that a resource type keeps the ARK contract
// (DESIGN §4 and §8) before it ships.
//
//	func TestConformance(t *testing.T) {
//		dir := t.TempDir()
//		arktest.Run(t, flagFile{}, arktest.Config{
//			Params:  map[string]string{"path": dir + "/flag"},
//			Running: func() bool { _, err := os.Stat(dir + "/flag"); return err == nil },
//		})
//	}
//
// Run drives the type through the real plugin protocol (gRPC server,
// client, conversions and host-services broker, in-process), so what
// passes here behaves the same behind the host. Failures say what the type
// got wrong and what the contract wants instead.
//
// This package is for tests only; it must not be imported by plugin code.
package arktest
