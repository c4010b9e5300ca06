// Command ark-diskres is the disk reservation resource type ("diskres"):
// it arbitrates a shared block device between the nodes of a cluster, so
// that the failover group above it runs on the node that holds the
// reservation and nowhere else (DESIGN §5).
//
// Two methods live here:
//
//   - lease (record.go, blockdev.go, lease.go): a lease record in one
//     logical block of the shared device, written with O_DIRECT, renewed
//     by a goroutine of this process and taken over only after it stayed
//     unchanged for a full lease as measured by the taker's own monotonic
//     clock (a delta lease, like sanlock's): no clock is ever compared
//     across nodes. It works on any shared block device.
//   - scsi3 (sgio.go, pr.go): SCSI-3 persistent reservations (Write
//     Exclusive – Registrants Only) sent through the SG_IO ioctl.
//
// diskres.go holds the type itself: its parameters, their validation and
// the dispatch of the actions to the method.
//
// It is a plugin binary built only on sdk/ and sdk/ark, exactly as a
// vendor would build one; it must never import host/.
package main
