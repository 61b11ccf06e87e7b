package projections_test

import (
	"errors"
	"testing"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/projections"
)

func TestDecodeAnchorAcceptsOnlyTheExactEncoding(t *testing.T) {
	good := projections.EncodeAnchor(42) // "AAAAAAAAACo"
	if seq, err := projections.DecodeAnchor(good); err != nil || seq != 42 {
		t.Fatalf("DecodeAnchor(%q) = %d, %v; want 42", good, seq, err)
	}
	for _, anchor := range []string{
		"",
		"AAAAAAAAACp",   // the same bytes with non-zero trailing bits
		"AAAAAAAAACo\n", // base64 skips line breaks
		"AAAAAA\r\nAAAACo",
		"AAAAAAAAACo=", // padded
		"AAAAAAAAAC+",  // standard, not URL, alphabet
		"%ff",
		"\x00",
	} {
		if _, err := projections.DecodeAnchor(anchor); !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("DecodeAnchor(%q) error %v, want one wrapping ErrInvalid", anchor, err)
		}
	}
}

// The seed corpus lives in testdata/fuzz/FuzzDecodeAnchor/.
func FuzzDecodeAnchor(f *testing.F) {
	f.Add(projections.EncodeAnchor(1), uint64(1))
	f.Fuzz(func(t *testing.T, anchor string, n uint64) {
		seq, err := projections.DecodeAnchor(anchor)
		if err != nil {
			if !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("DecodeAnchor(%q) error %v does not wrap ErrInvalid", anchor, err)
			}
		} else if back := projections.EncodeAnchor(seq); back != anchor {
			t.Fatalf("DecodeAnchor(%q) = %d, which encodes as %q", anchor, seq, back)
		}
		if got, err := projections.DecodeAnchor(projections.EncodeAnchor(n)); err != nil || got != n {
			t.Fatalf("DecodeAnchor(EncodeAnchor(%d)) = %d, %v", n, got, err)
		}
	})
}
