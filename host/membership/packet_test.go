package membership

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func testMACKey(t testing.TB) []byte {
	k, err := deriveKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPacketRoundTrip(t *testing.T) {
	key := testMACKey(t)
	for _, p := range []packet{
		{cluster: "c", from: "a", to: "b", path: 0, boot: 1, seq: 1},
		{cluster: "prod", from: "node1", to: "node2", path: 3, boot: 1 << 62, seq: 1<<64 - 1, hash: "sha256:abc", payload: []byte("hello")},
		{ // the largest packet there is
			cluster: strings.Repeat("c", maxString), from: strings.Repeat("f", maxString), to: strings.Repeat("t", maxString),
			path: maxPaths - 1, hash: strings.Repeat("h", maxString), payload: bytes.Repeat([]byte{0xff}, MaxPayload),
		},
	} {
		b, err := p.marshal(nil, key)
		if err != nil {
			t.Fatalf("marshal %+v: %v", p, err)
		}
		if len(b) > maxPacket {
			t.Errorf("packet of %d bytes, bound is %d", len(b), maxPacket)
		}
		got, err := parse(b)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if len(got.payload) == 0 {
			got.payload = p.payload // nil vs empty
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("round trip: got %+v, want %+v", got, p)
		}
		if !verify(b, key) {
			t.Errorf("verify failed on a genuine packet")
		}
		if verify(b, testMACKey2(t)) {
			t.Errorf("verify passed under another key")
		}
	}
}

func testMACKey2(t testing.TB) []byte {
	k, err := deriveKey([]byte("some other cluster key, 32 bytes or more"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestMarshalRejects(t *testing.T) {
	key := testMACKey(t)
	for _, p := range []packet{
		{cluster: strings.Repeat("c", maxString+1)},
		{hash: strings.Repeat("h", maxString+1)},
		{path: maxPaths},
		{path: -1},
		{payload: make([]byte, MaxPayload+1)},
	} {
		if _, err := p.marshal(nil, key); err == nil {
			t.Errorf("marshal accepted %+v", p)
		}
	}
}

// TestParseGarbage feeds random bytes and mangled packets to parse and
// verify: no panic, and nothing mangled is authentic.
func TestParseGarbage(t *testing.T) {
	key := testMACKey(t)
	rng := rand.New(rand.NewPCG(3, 4))
	valid, err := (&packet{cluster: "test", from: "b", to: "a", boot: 7, seq: 9, hash: "h", payload: []byte("payload")}).marshal(nil, key)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50000 {
		var b []byte
		switch i % 3 {
		case 0:
			b = make([]byte, rng.IntN(maxPacket+64))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
		case 1: // valid header, random rest: gets past the magic
			b = append([]byte(wireMagic+"\x01"), make([]byte, rng.IntN(300))...)
			for j := 5; j < len(b); j++ {
				b[j] = byte(rng.IntN(8)) // small lengths, so fields line up sometimes
			}
		case 2:
			b = bytes.Clone(valid)
			for range 1 + rng.IntN(3) {
				b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			}
			if rng.IntN(2) == 0 {
				b = b[:rng.IntN(len(b))]
			}
		}
		if _, err := parse(b); err == nil && verify(b, key) {
			t.Fatalf("garbage %x accepted", b)
		}
	}
}

func FuzzParse(f *testing.F) {
	key := testMACKey(f)
	valid, _ := (&packet{cluster: "test", from: "b", to: "a", boot: 7, seq: 9, hash: "h", payload: []byte("p")}).marshal(nil, key)
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte(wireMagic + "\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parse(b)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to the same body.
		again, err := p.marshal(nil, key)
		if err != nil {
			t.Fatalf("parsed %+v does not marshal: %v", p, err)
		}
		if !bytes.Equal(again[:len(again)-macSize], b[:len(b)-macSize]) {
			t.Fatalf("re-encoding differs")
		}
		if verify(b, key) != bytes.Equal(again, b) {
			t.Fatalf("verify disagrees with re-encoding")
		}
	})
}
