// Package systest builds the real kernel objects the builtin kits' tests
// and the whole-system test run on — network namespaces joined by a
// bridge, loop devices with real filesystems — and launches kit binaries
// inside a namespace through the real plugin protocol.
//
// Everything it creates is removed by t.Cleanup, also when the test
// fails. Tests that use it need root; RequireRoot skips them otherwise
// and says why. This package is for tests only.
package systest
