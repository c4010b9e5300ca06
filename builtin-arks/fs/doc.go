// Command ark-fs is the "fs" resource type: a filesystem on a block
// device, mounted at a mountpoint while the resource is in service
// (CLUSTERPRO's disk resource, LifeKeeper's File System kit).
//
// restore checks the filesystem (fsck) and mounts it; remove stops the
// processes that hold the mountpoint and unmounts it; quickCheck looks the
// mount up in /proc/self/mountinfo and writes a probe file. See README.md
// for the parameters and the exact behaviour.
//
// Layout: fs.go holds the resource type and its actions, options.go the
// mount option parser, holders.go the /proc scan and the killing of the
// processes that keep a mountpoint busy, fsck.go the fsck runner and
// probe.go quickCheck's write probe.
//
// It is a plugin binary built only on sdk/ (and libraries), exactly as a
// vendor would build one; it must never import host/.
package main
