// Command ark-ip is the ip resource type: a virtual IP address (IPv4 or
// IPv6) that moves with its failover group. restore checks that no other
// host on the LAN answers for the address (an RFC 5227 ARP probe for
// IPv4, the kernel's duplicate address detection for IPv6), adds it with
// netlink and announces it (gratuitous ARP, unsolicited neighbor
// advertisement), again a few seconds later in the background; remove
// deletes it; quickCheck checks the address, the link and optionally
// that a ping target answers; recover re-announces or re-adds it.
//
// What lives here: the parameters (params.go), the actions (ip.go), the
// link and address handling over netlink (link.go), ARP encoding, probe
// and announcement (arp.go), the IPv6 neighbor advertisement and DAD
// watch (ndp.go), the background second burst (announce.go) and the ping
// check (ping.go). README.md is the admin's page.
//
// It is a plugin binary built only on sdk/, exactly as a vendor would
// build one; it must never import host/ or plugins/.
package main
