// Command testplugin serves the fake resource type of ../fakeark as a real
// plugin binary, for the tests of the plugins package.
package main
