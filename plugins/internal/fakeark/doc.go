// Package fakeark is a config-driven fake resource type for the tests of
// the plugin protocol: its parameters say how each action misbehaves. It
// runs in-process (plugintest) and as a real binary (../testplugin). Test
// code only.
package fakeark
