package membership

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxPayload is the largest payload, in bytes, that Config.Payload may
// attach to a heartbeat.
const MaxPayload = 1024

// Wire format, version 1. All integers are big-endian; a string is a
// one-byte length followed by its bytes.
//
//	magic    4 bytes  "ARKh"
//	version  1 byte   1
//	cluster  string
//	from     string   sender's node name
//	to       string   receiver's node name
//	path     1 byte   path index
//	boot     8 bytes  sender's boot id (unix nanoseconds when it started)
//	seq      8 bytes  sender's sequence number (one counter per sender)
//	hash     string   hash of the sender's cluster file
//	payload  2-byte length, then at most MaxPayload bytes
//	mac      32 bytes HMAC-SHA256 over everything before it
const (
	wireMagic   = "ARKh"
	wireVersion = 1
	maxString   = 255 // longest cluster name, node name or config hash
	maxPaths    = 255 // most addresses per node (path index is one byte)
	macSize     = sha256.Size
	// maxPacket bounds every packet; anything longer is not ours.
	maxPacket = len(wireMagic) + 1 + 3*(1+maxString) + 1 + 8 + 8 + (1 + maxString) + 2 + MaxPayload + macSize
	// macInfo separates the heartbeat key from other uses of the cluster key.
	macInfo = "ark membership heartbeat v1"
)

// packet is one heartbeat.
type packet struct {
	cluster string
	from    string
	to      string
	path    int
	boot    uint64
	seq     uint64
	hash    string
	payload []byte
}

var errMalformed = errors.New("malformed heartbeat")

// deriveKey returns the heartbeat MAC key for a cluster key.
func deriveKey(clusterKey []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, clusterKey, nil, macInfo, sha256.Size)
}

// marshal appends p, authenticated with key, to dst.
func (p *packet) marshal(dst, key []byte) ([]byte, error) {
	for _, s := range []string{p.cluster, p.from, p.to, p.hash} {
		if len(s) > maxString {
			return dst, fmt.Errorf("heartbeat field %.20q... is longer than %d bytes", s, maxString)
		}
	}
	if p.path < 0 || p.path >= maxPaths {
		return dst, fmt.Errorf("heartbeat path index %d out of range", p.path)
	}
	if len(p.payload) > MaxPayload {
		return dst, fmt.Errorf("heartbeat payload is %d bytes, more than %d", len(p.payload), MaxPayload)
	}
	start := len(dst)
	b := append(dst, wireMagic...)
	b = append(b, wireVersion)
	b = appendString(b, p.cluster)
	b = appendString(b, p.from)
	b = appendString(b, p.to)
	b = append(b, byte(p.path))
	b = binary.BigEndian.AppendUint64(b, p.boot)
	b = binary.BigEndian.AppendUint64(b, p.seq)
	b = appendString(b, p.hash)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.payload)))
	b = append(b, p.payload...)
	mac := hmac.New(sha256.New, key)
	mac.Write(b[start:])
	return mac.Sum(b), nil
}

func appendString(b []byte, s string) []byte {
	return append(append(b, byte(len(s))), s...)
}

// parse decodes b without checking its MAC (see verify). It never panics
// and never reads past b; the payload it returns aliases b.
func parse(b []byte) (packet, error) {
	var p packet
	if len(b) > maxPacket || len(b) < len(wireMagic)+1+macSize {
		return p, errMalformed
	}
	r := reader{b: b[:len(b)-macSize]}
	if string(r.bytes(len(wireMagic))) != wireMagic || r.byte() != wireVersion {
		return p, errMalformed
	}
	p.cluster = r.string()
	p.from = r.string()
	p.to = r.string()
	p.path = int(r.byte())
	p.boot = r.uint64()
	p.seq = r.uint64()
	p.hash = r.string()
	n := int(r.uint16())
	if n > MaxPayload || p.path >= maxPaths {
		return packet{}, errMalformed
	}
	p.payload = r.bytes(n)
	if r.bad || len(r.b) != 0 {
		return packet{}, errMalformed
	}
	return p, nil
}

// verify reports whether b (a packet parse accepted) carries a valid MAC
// under key.
func verify(b, key []byte) bool {
	if len(b) < macSize {
		return false
	}
	body, sum := b[:len(b)-macSize], b[len(b)-macSize:]
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), sum)
}

// reader consumes a byte slice; once a read runs short it sets bad and
// returns zero values from then on.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n > len(r.b) {
		r.bad = true
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if v := r.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) uint16() uint16 {
	if v := r.bytes(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) uint64() uint64 {
	if v := r.bytes(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *reader) string() string {
	return string(r.bytes(int(r.byte())))
}
