package replica

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The handshake that opens every TCP connection of the cluster transport
// (D dials, L listens):
//
//	D → L  magic, cluster, D's name, L's name, D's config hash, nonce Nd
//	L → D  verdict ("ok" or why L refuses), nonce Nl, L's config hash,
//	       HMAC(key, "listener" ‖ transcript)
//	D → L  HMAC(key, "dialer" ‖ transcript)
//	L → D  status ("ok", "bad key", "config differs")
//	D → L  one byte: what the stream carries (kindRaft or kindHTTP)
//
// The transcript is cluster, D, L, D's hash, L's hash, Nd, Nl, every
// field length-prefixed. Each side's proof covers the other side's fresh
// nonce, so a recorded handshake cannot be replayed, and the role label
// keeps one side's proof from being reflected as the other's. D sends its
// proof even when it already refuses L, so that both sides log what they
// found. Nothing after the handshake is encrypted or authenticated: the
// paths are expected to be private networks.
const (
	magic = "ark-replica/1"

	kindRaft byte = 'R'
	kindHTTP byte = 'H'

	verdictOK      = "ok"
	statusOK       = "ok"
	statusBadKey   = "bad key"
	statusMismatch = "config differs"

	nonceSize = 32
	maxField  = 1024
)

// Handshake failures, as errors the dialer returns (wrapped, with the
// node's name and address).
var (
	// errBadKey: the peer did not prove the cluster key, or said we did
	// not.
	errBadKey = errors.New("cluster key not proved")
	// errMismatch: the peer has another cluster file.
	errMismatch = errors.New("cluster file differs")
	// errRefused: the peer refused the handshake before any proof (unknown
	// cluster or node name).
	errRefused = errors.New("refused")
)

// writeFields writes each field as a big-endian uint16 length and the
// bytes, in a single Write.
func writeFields(w io.Writer, fields ...[]byte) error {
	var buf []byte
	for _, f := range fields {
		if len(f) > maxField {
			return fmt.Errorf("handshake field of %d bytes", len(f))
		}
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(f)))
		buf = append(buf, f...)
	}
	_, err := w.Write(buf)
	return err
}

// readFields reads n fields written by writeFields.
func readFields(r io.Reader, n int) ([][]byte, error) {
	out := make([][]byte, n)
	var l [2]byte
	for i := range out {
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return nil, err
		}
		size := binary.BigEndian.Uint16(l[:])
		if size > maxField {
			return nil, fmt.Errorf("handshake field of %d bytes", size)
		}
		out[i] = make([]byte, size)
		if _, err := io.ReadFull(r, out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func nonce() []byte {
	b := make([]byte, nonceSize)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

// transcript is what both proofs cover.
type transcript struct {
	cluster, dialer, listener string
	dialerHash, listenerHash  string
	dialerNonce, listenNonce  []byte
}

// mac returns HMAC-SHA256(key, role ‖ transcript), every part
// length-prefixed so that no two transcripts encode alike.
func (t transcript) mac(key []byte, role string) []byte {
	h := hmac.New(sha256.New, key)
	for _, f := range [][]byte{
		[]byte(role), []byte(t.cluster), []byte(t.dialer), []byte(t.listener),
		[]byte(t.dialerHash), []byte(t.listenerHash), t.dialerNonce, t.listenNonce,
	} {
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(f)))
		h.Write(l[:])
		h.Write(f)
	}
	return h.Sum(nil)
}

const (
	roleDialer   = "ark-replica/1 dialer"
	roleListener = "ark-replica/1 listener"
)
