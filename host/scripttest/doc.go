// Package scripttest is the script writer's harness behind `arkctl ark
// test`: it drives a GenericARK resource through the life a cluster will
// give it — restore, restore again, remove, remove again, a killed service,
// recover — through the real plugin process, watches the processes each
// step leaves behind, and says plainly what the scripts got wrong.
//
// It talks to the resource type only through ark.ResourceType, so the
// same checks run against any plugin; the process bookkeeping reads /proc
// and, when it exists, the resource's cgroup. It holds no CLI code.
package scripttest
